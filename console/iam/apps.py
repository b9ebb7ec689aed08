from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "console.iam"
    label = "iam"
