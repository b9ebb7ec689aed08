from django.apps import AppConfig


class TerminalsConfig(AppConfig):
    name = "console.terminals"
    label = "terminals"
    default_auto_field = "django.db.models.BigAutoField"
