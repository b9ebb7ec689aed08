import sys

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "console.web"
    label = "web"

    def ready(self) -> None:
        from console.web import db_connections

        db_connections.connect()
        if "daphne.server" in sys.modules:  # run by daphne (its command line imports it first)
            from console.web import daphne_tuning

            daphne_tuning.install()
