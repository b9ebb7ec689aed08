import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from console.gateway.consumers import AgentConsumer  # noqa: E402
from console.terminals.consumers import TerminalConsumer, TokenTerminalConsumer  # noqa: E402
from console.web.consumers import InvocationStreamConsumer  # noqa: E402
from console.web.daphne_limits import raise_request_limits  # noqa: E402

raise_request_limits()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                # Agents authenticate inside the protocol (hello), so no cookie middleware on their route.
                path("ws/agent/", AgentConsumer.as_asgi()),
                # Browsers authenticate with the session cookie, so their origin must be one of ours.
                path(
                    "ws/invocations/<str:invocation_id>/",
                    AllowedHostsOriginValidator(AuthMiddlewareStack(InvocationStreamConsumer.as_asgi())),
                ),
                # Terminal sessions (docs/terminals.md): browsers by cookie, API clients by security token.
                path(
                    "ws/terminals/<str:session_id>/",
                    AllowedHostsOriginValidator(AuthMiddlewareStack(TerminalConsumer.as_asgi())),
                ),
                path("ws/terminal-sessions/<str:session_id>/", TokenTerminalConsumer.as_asgi()),
            ]
        ),
    }
)

# Last: everything above is built once and lives as long as the process (console/gc_tuning.py).
from console.gc_tuning import tune_for_long_lived_connections  # noqa: E402

tune_for_long_lived_connections()
