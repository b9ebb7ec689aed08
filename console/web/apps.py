from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "console.web"
    label = "web"

    def ready(self) -> None:
        from console.web import db_connections

        db_connections.connect()
