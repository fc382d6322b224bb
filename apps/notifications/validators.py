"""What an announcement's and a webhook's fields must look like, as Django validators: the API's
serializers and the pages' forms run the same ones, and the services take the clean values."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from apps.core import egress
from apps.core.errors import ServiceError

SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 128

_http = URLValidator(schemes=["http", "https"])


def _http_url(value: str, field: str) -> None:
    try:
        _http(value)
    except ValidationError:
        raise ValidationError(f"{field} must be an http(s) URL.", code="invalid") from None


def training_url(value: str) -> None:
    """Where end users learn the change: an http(s) address (an empty one is not validated)."""
    _http_url(value, "training_url")


def publish_time(value: datetime) -> None:
    # Far-off years overflow when shown in a viewer's time zone.
    if not 1970 <= value.year <= 9998:
        raise ValidationError("publish_at is out of range.", code="out_of_range")


def receiver_url(value: str) -> None:
    """An http(s) URL that outbound requests may reach; a host name is checked again, with the
    addresses it resolves to, at each send."""
    _http_url(value, "url")
    try:
        egress.check_url(value, field="url")
    except ServiceError as exc:
        raise ValidationError(exc.message, code="egress") from None


def secret(value: str) -> None:
    """A webhook's signing key: printable, no surrounding spaces, 16 to 128 characters."""
    if not value.isprintable() or value != value.strip():
        raise ValidationError(
            "secret must be printable text without surrounding spaces.", code="invalid"
        )
    if not SECRET_MIN_LENGTH <= len(value) <= SECRET_MAX_LENGTH:
        raise ValidationError(
            f"secret must be {SECRET_MIN_LENGTH} to {SECRET_MAX_LENGTH} characters.",
            code="length",
        )
