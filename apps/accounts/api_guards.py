"""How the REST API enforces the rules of `permissions`: DRF's permission class, its
throttles and the limit on failed token authentications. Kept apart from the views: DRF
imports these while it is itself being imported, so this module must not import DRF views."""

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.db import transaction
from redis import Redis
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.throttling import (
    AnonRateThrottle,
    BaseThrottle,
    ScopedRateThrottle,
    SimpleRateThrottle,
)

from apps.core.cache import UNAVAILABLE, redis_client, warn_unavailable
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

    A fixed-window counter per token that starts with the token's first request of a period:
    constant work per request, unlike DRF's per-request timestamp history, whose size grows with
    the rate. On Redis that is one round trip (INCR and EXPIRE NX, pipelined). Requests without
    a token are not limited here.
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
        limit, period = _parse_rate(str(rate))
        key = f"throttle:token:{request.auth.pk}"
        client = redis_client(DEFAULT_CACHE_ALIAS)
        try:
            if client is not None:
                count, remaining = _count_on_redis(client, key, period)
            else:
                count, remaining = _count_on_cache(key, period)
        except UNAVAILABLE as exc:  # no Redis, no count: let the request through
            warn_unavailable("API throttle", exc)
            return True
        if count <= limit:
            return True
        self.wait_seconds = max(1.0, remaining())
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


def _count_on_redis(client: Redis, key: str, period: int) -> tuple[int, Callable[[], float]]:
    """This request's number in the token's current period, and how to ask what is left of it."""
    # Named as the cache names its keys, so the counters sit beside the cache's own.
    cache_key = caches[DEFAULT_CACHE_ALIAS].make_and_validate_key(key)
    pipe = client.pipeline(transaction=False)
    pipe.incr(cache_key)
    pipe.expire(cache_key, period, nx=True)  # the first request of a period starts its clock
    count, _ = pipe.execute()
    return int(count), lambda: float(client.ttl(cache_key))


def _count_on_cache(key: str, period: int) -> tuple[int, Callable[[], float]]:
    now = time.time()
    try:
        count = cache.incr(f"{key}:count")
    except ValueError:  # no period running for this token: start one
        cache.add(f"{key}:start", now, period)
        cache.add(f"{key}:count", 0, period)
        count = cache.incr(f"{key}:count")
    return count, lambda: cache.get(f"{key}:start", now) + period - now


class AnonymousRateThrottle(AnonRateThrottle):
    def get_rate(self) -> str | None:
        from rest_framework.settings import api_settings

        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)


class WebhookRateThrottle(ScopedRateThrottle):
    """For callers that prove themselves with a signature or a shared secret rather than a
    person's token (the GitHub webhook, incident hooks, Slack interactions): a provider sends
    its bursts from a few addresses and some never redeliver, so they get their own budget per
    address (`webhook`) instead of the anonymous one. A view opts in with
    `throttle_classes = [WebhookRateThrottle]` and `throttle_scope = "webhook"`; the signature
    is still checked by the view, so a bad one stays 401."""

    def get_rate(self) -> str | None:
        from rest_framework.settings import api_settings

        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)


def _parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate syntax ("120/min"), as its throttles read it: requests and seconds."""
    limit, period = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
    if limit is None or period is None:
        raise ValueError(f"not a throttle rate: {rate!r}")
    return limit, period


# --- failed token authentications -------------------------------------------------------------


def _failed_token_window(request: Request) -> tuple[str, int, int, float] | None:
    """(counter key, limit, period, seconds left) of the client address's current window, or
    None when failures are not limited. Windows are fixed, so the key needs no clock of its own."""
    rate = settings.RELEASEDECK_FAILED_TOKEN_RATE
    if not rate:
        return None
    limit, period = _parse_rate(rate)
    now = time.time()
    address = str(request.META.get("REMOTE_ADDR", ""))[:64]
    return f"auth:failed-token:{address}:{int(now // period)}", limit, period, period - now % period


def _failures(key: str) -> int:
    """The failures counted in a window so far. Every token request asks, so on Redis it is one
    GET on the shared client: the cache's own `get` builds a new redis-py client per call."""
    client = redis_client(DEFAULT_CACHE_ALIAS)
    if client is None:
        return int(cache.get(key, 0))
    return int(client.get(caches[DEFAULT_CACHE_ALIAS].make_and_validate_key(key)) or 0)


def _failure_added(key: str, period: int) -> int:
    """Count one more failure in the window `key`, kept `period` seconds; the count so far."""
    client = redis_client(DEFAULT_CACHE_ALIAS)
    if client is None:
        cache.add(key, 0, period)
        return int(cache.incr(key))
    return _count_on_redis(client, key, period)[0]


def failed_tokens_refuse(request: Request) -> None:
    """Before a token is looked up: an address that spent its budget of failures is answered
    429 until its window ends, so a right guess after many wrong ones earns nothing."""
    window = _failed_token_window(request)
    if window is None:
        return
    key, limit, _, left = window
    try:
        failures = _failures(key)
    except UNAVAILABLE as exc:  # fail open: token checks still hold
        warn_unavailable("failed token limit", exc)
        return
    if failures >= limit:
        raise exceptions.Throttled(
            wait=max(1, round(left)),
            detail="Too many failed token authentications from this address.",
        )


def failed_token_counted(request: Request) -> None:
    """Count a failed token authentication against the client address. The audit trail gets
    the window's first failure and the one that spends the budget, not every guess."""
    window = _failed_token_window(request)
    if window is None:
        return
    key, limit, period, _ = window
    try:
        failures = _failure_added(key, period + 1)
    except (*UNAVAILABLE, ValueError) as exc:  # fail open (ValueError: the counter expired)
        warn_unavailable("failed token count", exc)
        return
    if failures not in (1, limit):
        return
    verb = "api_auth.throttled" if failures == limit else "api_auth.failed"
    from apps.audit.services import audit_record

    address = str(request.META.get("REMOTE_ADDR", ""))[:64]
    with transaction.atomic():
        audit_record(
            actor=None,
            verb=verb,
            object_type="accounts.apitoken",
            object_id=address,
            after={"address": address, "failures": failures, "limit": limit, "period": period},
            reason=(
                f"{failures} failed token authentications from {address} within {period} s; "
                "its token requests are refused until the period ends."
                if verb == "api_auth.throttled"
                else ""
            ),
        )
