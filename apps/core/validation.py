"""Checks every service applies to what people and clients send, before anything is written."""

from datetime import datetime
from typing import Any, Literal, overload

from django.utils import timezone

from .errors import ServiceError


def clean_text(
    value: Any, *, field: str, max_length: int | None = None, required: bool = False
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError(f"{field} must be text.", field=field)
    if "\x00" in value:
        raise ServiceError(f"{field} must not contain NUL characters.", field=field)
    # JSON escapes can carry lone surrogates, which no database encoding accepts.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ServiceError(f"{field} must be valid Unicode text.", field=field) from None
    value = value.strip()
    if required and not value:
        raise ServiceError(f"{field} is required.", field=field)
    if max_length is not None and len(value) > max_length:
        raise ServiceError(f"{field} must be at most {max_length} characters.", field=field)
    return value


def clean_choice(value: Any, *, field: str, choices: Any) -> str:
    allowed = [c.value for c in choices]
    if not isinstance(value, str) or value not in allowed:
        raise ServiceError(f"{field} must be one of: {', '.join(allowed)}.", field=field)
    return value


@overload
def clean_datetime(value: Any, *, field: str, required: Literal[True]) -> datetime: ...
@overload
def clean_datetime(value: Any, *, field: str, required: bool = False) -> datetime | None: ...
def clean_datetime(value: Any, *, field: str, required: bool = False) -> datetime | None:
    if value is None:
        if required:
            raise ServiceError(f"{field} is required.", field=field)
        return None
    if not isinstance(value, datetime):
        raise ServiceError(f"{field} must be a date and time.", field=field)
    if timezone.is_naive(value):
        raise ServiceError(f"{field} must carry a time zone.", field=field)
    if not (1970 <= value.year <= 9998):
        raise ServiceError(f"{field} is out of range.", field=field)
    return value


def clean_int(value: Any, *, field: str, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError(f"{field} must be a whole number.", field=field)
    if not minimum <= value <= maximum:
        raise ServiceError(f"{field} must be between {minimum} and {maximum}.", field=field)
    return value


def clean_id(value: Any, *, field: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return clean_int(value, field=field, minimum=1, maximum=2**63 - 1)
