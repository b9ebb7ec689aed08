from django.apps import AppConfig


class InvocationsConfig(AppConfig):
    name = "console.invocations"
    label = "invocations"

    def ready(self) -> None:
        from console import lookups

        lookups.register()
