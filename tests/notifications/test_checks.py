"""A mail backend that cannot be built is reported at start-up by the system checks."""

import pytest
from django.core.checks import Error, run_checks
from django.core.management import CommandError, call_command

FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def ids() -> list[str]:
    return [m.id for m in run_checks() if isinstance(m, Error)]


def test_file_backend_without_a_path_fails_the_checks(settings):
    settings.EMAIL_BACKEND = FILE_BACKEND
    settings.EMAIL_FILE_PATH = None
    (message,) = [m for m in run_checks() if m.id == "notifications.E001"]
    assert isinstance(message, Error)
    assert FILE_BACKEND in message.msg and "TypeError" in message.msg
    assert "EMAIL_FILE_PATH" in message.hint
    with pytest.raises(CommandError, match="notifications.E001"):
        call_command("check")


def test_unknown_backend_fails_the_checks(settings):
    settings.EMAIL_BACKEND = "mail.backends.Nowhere"
    assert "notifications.E001" in ids()


def test_file_backend_with_the_default_path_passes(settings, tmp_path):
    settings.EMAIL_BACKEND = FILE_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    assert "notifications.E001" not in ids()


def test_the_settings_give_the_file_backend_a_path_by_default():
    from config.settings import base

    assert base.EMAIL_FILE_PATH.endswith("mail")
    assert base.EMAIL_TIMEOUT > 0
