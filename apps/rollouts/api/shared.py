"""What the rollout endpoints share: who is asking, and the fields that read planned starts."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers
from rest_framework.request import Request

from apps.core.errors import NotAllowed

from ..forms import LocalTimeError, parse_local


def person(request: Request) -> User:
    """The signed-in person behind a request (the API's permission lets no one else write)."""
    user = request.user
    if not isinstance(user, User):
        raise NotAllowed("Sign in first.")
    return user


class LocalTimeField(serializers.CharField):
    """A wall-clock time without an offset, e.g. 2026-12-01T09:00, read as a naive datetime;
    the wave's environment gives it its zone. Blank or null: no time."""

    default_error_messages = {
        "format": "Must be a local date and time like 2026-12-01T09:00.",
        "offset": "Local time in the environment's zone: give it without an offset.",
        "range": "Out of range.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def run_validation(self, data: Any = serializers.empty) -> datetime | None:
        text = super().run_validation(data)
        if not text:
            return None
        try:
            return parse_local(text)
        except LocalTimeError as exc:
            self.fail(exc.code)


class MomentField(serializers.DateTimeField):
    """A moment with its offset, within the years the database and every zone can hold."""

    default_error_messages = {"range": "Date and time out of range."}

    def to_internal_value(self, value: Any) -> datetime:
        moment = super().to_internal_value(value)
        if not 1970 <= moment.year <= 9998:
            self.fail("range")
        return moment
