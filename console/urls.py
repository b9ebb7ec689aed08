from django.urls import include, path

from console.web.views import root

urlpatterns = [
    # POST / carries the Alibaba-compatible RPC API when the request names an action; otherwise the console.
    path("", root, name="root"),
    path("agent/", include("console.gateway.urls")),
    path("", include("console.web.urls")),
    path("", include("console.commands.urls")),
]
