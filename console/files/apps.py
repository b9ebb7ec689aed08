from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "console.files"
    label = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console.files.daphne_uploads import keep_uploads_out_of_memory

        keep_uploads_out_of_memory()
