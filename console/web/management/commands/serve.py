import atexit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from console.web import embedded


class Command(BaseCommand):
    help = "Run the console (daphne, HTTP + websockets) with the embedded task runner and a local agent."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-local-agent", action="store_true", help="do not run an agent for this machine"
        )

    def handle(self, *args, **options):
        # Importing daphne.server installs the asyncio Twisted reactor; it must happen before Twisted is used.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from console.asgi import application
        from console.web import daphne_tuning

        daphne_tuning.install()

        host, port = options["host"], options["port"]
        call_command("migrate", interactive=False, verbosity=0)
        if host not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
            settings.ALLOWED_HOSTS.append(host)
        user, password = embedded.ensure_first_user()
        local_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        url = f"http://{local_host}:{port}"
        self.stdout.write(f"Assist console on {url}/")
        if password:
            self.stdout.write(
                f"Log in as {user.login_name} with password {password} "
                f"(also saved in {settings.DATA_DIR / 'initial-admin-password'})."
            )
        else:
            self.stdout.write(
                f"Log in as {user.login_name} (first password in {settings.DATA_DIR}/initial-admin-password)."
            )
        if settings.CELERY_TASK_ALWAYS_EAGER:
            embedded.start_ticker(settings.ASSIST_TICK_SECONDS)
        if not options["no_local_agent"]:
            atexit.register(embedded.stop_children)
            embedded.start_local_agent(owner=user, server_url=url, host=local_host, port=port)
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            signal_handlers=True,
            http_timeout=None,
            websocket_handshake_timeout=10,
        ).run()
        embedded.stop_children()
