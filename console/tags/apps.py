from django.apps import AppConfig


class TagsConfig(AppConfig):
    name = "console.tags"
    label = "tags"

    def ready(self) -> None:
        from console.tags import signals  # noqa: F401  (deleting a resource deletes its tags)
