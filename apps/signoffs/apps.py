from django.apps import AppConfig


class SignoffsConfig(AppConfig):
    name = "apps.signoffs"
    label = "signoffs"

    def ready(self) -> None:
        from apps.accounts.permissions import Action, register_release_check

        from .eligibility import may_sign_off

        register_release_check(Action.SIGN_OFF, may_sign_off)
