"""Pages show times in the signed-in person's time zone, looked up without a query per request."""

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.middleware import UserTimezoneMiddleware, time_zone_cache_key
from apps.accounts.models import Profile


def zone_during(request) -> str:
    """The time zone active while the middleware let `request` through."""
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone_name()
        return HttpResponse()

    UserTimezoneMiddleware(view)(request)
    return seen["zone"]


def zone_seen(client) -> str:
    return zone_during(client.get("/").wsgi_request)  # with the session the client holds


def test_signed_in_person_gets_their_zone_without_a_query(client, vera):
    Profile.objects.create(user=vera, time_zone="Asia/Tokyo")
    client.force_login(vera)
    request = client.get("/").wsgi_request
    with CaptureQueriesContext(connection) as queries:
        assert zone_during(request) == "Asia/Tokyo"
    assert len(queries) == 0


def test_changed_zone_shows_on_the_next_request(client, vera):
    profile = Profile.objects.create(user=vera, time_zone="Asia/Tokyo")
    client.force_login(vera)
    assert zone_seen(client) == "Asia/Tokyo"
    profile.time_zone = "America/New_York"
    profile.save()
    assert zone_seen(client) == "America/New_York"


def test_a_person_without_profile_and_anonymous_visitors_see_utc(client, vera):
    assert zone_seen(client) == "UTC"
    client.force_login(vera)
    assert zone_seen(client) == "UTC"
    assert cache.get(time_zone_cache_key(vera.pk)) == "UTC"


def test_a_profile_created_later_is_not_hidden_by_the_cached_default(client, vera):
    client.force_login(vera)
    assert zone_seen(client) == "UTC"
    Profile.objects.create(user=vera, time_zone="Europe/Berlin")
    assert zone_seen(client) == "Europe/Berlin"
