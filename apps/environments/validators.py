"""What environment and freeze input must look like, checked by the API's serializers and the
page's forms alike before any service is called."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.utils import timezone

SECRET_MIN, SECRET_MAX = 16, 128

validate_environment_name = RegexValidator(
    r"^[-a-zA-Z0-9_]+\Z",
    message="The name may hold only letters, digits, hyphens and underscores.",
)

validate_http_url = URLValidator(
    schemes=["http", "https"], message="This must be an http(s) URL, or empty."
)


def validate_deploy_secret(value: str) -> None:
    """A secret that signs deploy requests; empty removes it, so empty is never checked here."""
    if value != value.strip():
        raise ValidationError("The deploy secret must not start or end with spaces.")
    if not SECRET_MIN <= len(value) <= SECRET_MAX:
        raise ValidationError(
            f"The deploy secret must be {SECRET_MIN} to {SECRET_MAX} characters (empty removes it)."
        )


def validate_moment(value: datetime) -> None:
    """An aware moment the calendars can count from and to without leaving the datetime range."""
    if timezone.is_naive(value):
        raise ValidationError("Give the time with its time zone.")
    if not 1970 <= value.year <= 9998:
        raise ValidationError("The date must be between the years 1970 and 9998.")
