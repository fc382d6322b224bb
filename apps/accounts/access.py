"""DRF permission and throttle classes. Kept apart from the views: DRF imports these while it
is itself being imported, so this module must not import DRF views."""

import time
from typing import Any

from django.core.cache import cache
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, BaseThrottle, SimpleRateThrottle

from apps.core.errors import NotAllowed

from .models import ApiToken
from .permissions import Action, require


def is_read_only_token(request: Request) -> bool:
    return isinstance(request.auth, ApiToken) and request.auth.read_only


class ActionPermission(permissions.BasePermission):
    """Reads need `view`; a write needs the action the view names for its method.

    The answer comes from apps.accounts.permissions, as it does for the pages; services check
    again against the release itself (sign-offs depend on the release, not only the role).
    """

    message = "You may not do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False  # DRF answers 401 with the authentication challenge
        if request.method in permissions.SAFE_METHODS:
            action = getattr(view, "read_action", Action.VIEW)
        else:
            if is_read_only_token(request):
                self.message = "This API token is read-only."
                return False
            action = getattr(view, "write_actions", {}).get(request.method)
        if action is None:
            return True  # the view needs only a signed-in user (e.g. their own tokens)
        try:
            require(user, action)
        except NotAllowed as exc:
            self.message = exc.message
            return False
        return True


class TokenRateThrottle(BaseThrottle):
    """At most N requests per period for each API token (each token its own budget).

    A counter per token that starts with the token's first request of a period: constant work
    per request (two cache calls), unlike DRF's per-request timestamp history, whose size grows
    with the rate. Requests without a token are not limited here.
    """

    scope = "token"

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, ApiToken):
            return True
        # Read at request time so a deployment (or a test) can change it without a restart.
        from rest_framework.settings import api_settings

        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if not rate:
            return True
        limit, period = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
        key = f"throttle:token:{request.auth.pk}"
        now = time.time()
        try:
            count = cache.incr(f"{key}:count")
        except ValueError:  # no period running for this token: start one
            cache.add(f"{key}:start", now, period)
            cache.add(f"{key}:count", 0, period)
            count = cache.incr(f"{key}:count")
        if count <= limit:
            return True
        started = cache.get(f"{key}:start", now)
        self.wait_seconds = max(1.0, started + period - now)
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


class AnonymousRateThrottle(AnonRateThrottle):
    def get_rate(self) -> str | None:
        from rest_framework.settings import api_settings

        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
