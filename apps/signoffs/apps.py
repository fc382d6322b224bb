from django.apps import AppConfig


class SignoffsConfig(AppConfig):
    name = "apps.signoffs"
    label = "signoffs"

    def ready(self) -> None:
        from apps.accounts.permissions import Action, register_release_check
        from apps.notifications.outbox import register_mail_part
        from apps.releases.signals import release_moved

        from .eligibility import may_sign_off
        from .links import request_mail_links
        from .services import signoff_ask_on_testing

        register_release_check(Action.SIGN_OFF, may_sign_off)
        register_mail_part("signoff.requested", request_mail_links)
        release_moved.connect(signoff_ask_on_testing, dispatch_uid="signoffs.release_moved")
