import zoneinfo
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .models import Profile

# Invalidated whenever a profile is saved or deleted (see signals), so the hour is a bound on
# memory, not on staleness.
TIME_ZONE_CACHE_SECONDS = 3600


def time_zone_cache_key(user_id: object) -> str:
    return f"accounts:time_zone:{user_id}"


def time_zone_of(user_id: int | str) -> str:
    """The person's time zone, from the cache or (once) from their profile."""
    key = time_zone_cache_key(user_id)
    name = cache.get(key)
    if name is None:
        row = Profile.objects.filter(user_id=user_id).values_list("time_zone", flat=True)
        name = row.first() or "UTC"
        cache.set(key, name, TIME_ZONE_CACHE_SECONDS)
    return str(name)


class UserTimezoneMiddleware:
    """Show times in the signed-in person's own time zone.

    The person comes from the session, not `request.user`: loading the user here would cost
    every request a query, and an open page's unchanged poll is meant to cost only one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tz_name = "UTC"
        session = getattr(request, "session", None)
        user_id = session.get(SESSION_KEY) if session is not None else None
        if user_id is not None:
            tz_name = time_zone_of(str(user_id))
        try:
            timezone.activate(zoneinfo.ZoneInfo(tz_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
