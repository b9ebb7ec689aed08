from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "console.mfa"
    label = "mfa"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from console.mfa.services import mark_login

        def on_login(sender, request, user, **kwargs) -> None:
            mark_login(request.session, user)

        user_logged_in.connect(on_login, dispatch_uid="assist-mfa-login", weak=False)
