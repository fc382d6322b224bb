"""Start-up checks: a mail backend that cannot be built is reported by `manage.py check`
(and migrate, runserver), not by the first notification that tries to send."""

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.mail import get_connection


@checks.register("mail")
def check_email_backend(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Build the configured mail backend without sending anything."""
    try:
        get_connection()
    except Exception as exc:  # any failure here would fail every e-mail notification
        return [
            checks.Error(
                f"EMAIL_BACKEND {settings.EMAIL_BACKEND!r} cannot be set up: "
                f"{type(exc).__name__}: {exc}",
                hint=(
                    "Fix the e-mail settings (for the file backend set EMAIL_FILE_PATH to a "
                    "writable directory); until then every e-mail notification fails."
                ),
                id="notifications.E001",
            )
        ]
    return []
