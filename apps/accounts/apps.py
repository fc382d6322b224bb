from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the failed sign-in audit)
        from .sso_config import check_sso_settings

        # A wrong role map stops the process at startup with what to fix, not at a sign-in.
        check_sso_settings()
