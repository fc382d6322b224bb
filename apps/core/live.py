"""Open pages poll for changes; an unchanged poll must cost the server one query.

A page hands its poller a signed pass for (person, subject). `live_poll` answers 204 before
anything else runs when the pass is fresh and the page's one change counter says nothing
changed: the person comes from the session (read from the cache), not from a user, role or
profile lookup. The pass is renewed by every full render, so someone who loses their roles or
their account is refused at the latest `max_age` later, and meanwhile learns nothing: a 204
carries no content.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.core import signing
from django.http import HttpRequest, HttpResponse

LIVE_PASS_MAX_AGE = 600

View = Callable[..., HttpResponse]


class LivePass:
    def __init__(self, salt: str, *, max_age: int = LIVE_PASS_MAX_AGE) -> None:
        self._signer = signing.TimestampSigner(salt=salt)
        self.max_age = max_age

    def issue(self, user: Any, subject: object = "") -> str:
        return self._signer.sign(f"{user.pk}.{subject}")

    def valid(self, request: HttpRequest, subject: object = "") -> bool:
        session = getattr(request, "session", None)
        user_id = session.get(SESSION_KEY) if session is not None else None
        if user_id is None:
            return False
        try:
            value = self._signer.unsign(request.GET.get("pass", ""), max_age=self.max_age)
        except signing.BadSignature:  # expired passes too
            return False
        return value == f"{user_id}.{subject}"


def live_poll(live_pass: LivePass, unchanged: Callable[..., bool]) -> Callable[[View], View]:
    """Answer a poll with 204 while its pass is valid and `unchanged(request, **kwargs)` (the
    page's one query) holds; otherwise run the view. Goes above `login_required`.

    The pass's subject is the URL's arguments (a release page's pass is for that release).
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            subject = ".".join(str(value) for value in (*args, *kwargs.values()))
            if live_pass.valid(request, subject) and unchanged(request, *args, **kwargs):
                return HttpResponse(status=204)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def seen_number(request: HttpRequest, name: str) -> int | None:
    """The counter value the poller last saw, or None when it sent nothing usable."""
    value = request.GET.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None
