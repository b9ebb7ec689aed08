from django.apps import AppConfig


class CommandsConfig(AppConfig):
    name = "console.commands"
    label = "commands"
