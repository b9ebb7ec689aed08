from django.urls import include, path

from console.api.views import openapi_document
from console.web.views import root

urlpatterns = [
    # POST / carries the Alibaba-compatible RPC API when the request names an action; otherwise the console.
    path("", root, name="root"),
    path("agent/", include("console.gateway.urls")),
    path("api/openapi.json", openapi_document, name="api-openapi"),
    path("", include("console.releases.urls")),
    path("", include("console.mfa.urls")),
    path("", include("console.web.urls")),
    path("", include("console.commands.urls")),
    path("", include("console.terminals.urls")),
    path("", include("console.files.urls")),
]
