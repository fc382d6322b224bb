"""Passes that let an open page's poll skip the role lookup while nothing has changed.

A page hands its poller a signed pass for (person, subject); while the pass is fresh, an
unchanged poll costs one query (the change counter) and answers 204. The pass is renewed by
every full render, so someone who loses their roles is refused at the latest `max_age` later.
"""

from typing import Any

from django.core import signing
from django.http import HttpRequest

LIVE_PASS_MAX_AGE = 600


class LivePass:
    def __init__(self, salt: str, *, max_age: int = LIVE_PASS_MAX_AGE) -> None:
        self._signer = signing.TimestampSigner(salt=salt)
        self.max_age = max_age

    def issue(self, user: Any, subject: object = "") -> str:
        return self._signer.sign(f"{user.pk}.{subject}")

    def valid(self, request: HttpRequest, subject: object = "") -> bool:
        try:
            value = self._signer.unsign(request.GET.get("pass", ""), max_age=self.max_age)
        except signing.BadSignature:  # expired passes too
            return False
        return value == f"{request.user.pk}.{subject}"


def seen_number(request: HttpRequest, name: str) -> int | None:
    """The counter value the poller last saw, or None when it sent nothing usable."""
    value = request.GET.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None
