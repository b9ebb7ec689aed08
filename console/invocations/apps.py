from django.apps import AppConfig


class InvocationsConfig(AppConfig):
    name = "console.invocations"
    label = "invocations"
