"""The API's cheap paths answer exactly what the general ones would: release documents built
from rows equal the serializer's, the token lookup sees revocations and role changes at
once, the Redis throttle counts per token, and cached status bodies are per time zone."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Profile
from apps.accounts.services import api_token_revoke
from apps.releases.api.list_page import release_documents
from apps.releases.api.releases import ReleaseListView, ReleaseSerializer
from apps.releases.models import Release
from tests.factories import ApplicationFactory, ReleaseFactory, UserFactory, give, revoke_all

from .conftest import token_header

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def _plain(data: Any) -> Any:
    return json.loads(json.dumps(data))


@pytest.fixture
def assorted_releases(rita) -> list[Release]:
    """Releases with every nullable empty or filled, odd text, and times with no, trailing-zero
    and tiny fractions of a second, one before the year 1000."""
    now = timezone.now().replace(microsecond=0)
    owner = UserFactory(username="ünïcode-owner")
    return [
        ReleaseFactory(),
        ReleaseFactory(
            name="Zahlungen — “neu” ✓",
            scope="Line one\nline two\t\u2028",
            owner=owner,
            created_by=rita,
            application=ApplicationFactory(name="Ærø", slug="aero"),
            planned_start=now + timedelta(days=1),
            planned_end=now + timedelta(days=2, microseconds=5),
            signoff_expiry_days=None,
            hypercare_until=now + timedelta(days=9),
        ),
        ReleaseFactory(planned_start=None, planned_end=None, signoff_expiry_days=30),
        ReleaseFactory(
            planned_start=datetime(999, 12, 31, 23, 59, 59, 120000, tzinfo=UTC),
            planned_end=datetime(1000, 1, 1, 0, 0, 0, 500, tzinfo=UTC),
            hypercare_until=now.replace(microsecond=120000),
        ),
    ]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_release_documents_equal_the_serializer(assorted_releases, zone: str) -> None:
    queryset = Release.objects.order_by("-created_at", "-id")

    with timezone.override(zone):
        expected = _plain(ReleaseSerializer(queryset, many=True).data)
        documents = _plain(release_documents(queryset))

    assert documents == expected
    assert [d["id"] for d in documents] == [r.pk for r in reversed(assorted_releases)]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_release_list_is_written_in_the_readers_time_zone(
    client, vera, assorted_releases, zone: str
) -> None:
    queryset = Release.objects.order_by("-created_at", "-id")
    Profile.objects.update_or_create(user=vera, defaults={"time_zone": zone})
    client.force_login(vera)

    with timezone.override(zone):
        expected = _plain(ReleaseSerializer(queryset, many=True).data)
    documents = client.get(f"{V1}/releases/").json()["results"]

    assert documents == expected
    assert [d["id"] for d in documents] == [r.pk for r in reversed(assorted_releases)]


@pytest.mark.parametrize("ordering", [*ReleaseListView.ordering_fields, "-name", "-planned_end"])
def test_release_list_pages_equal_the_serializer_for_every_ordering(
    client, vera, assorted_releases, ordering: str
) -> None:
    headers = token_header(vera)
    for _ in range(3):
        ReleaseFactory()
    queryset = Release.objects.order_by(ordering, "-id" if ordering.startswith("-") else "id")

    pages = [
        client.get(
            f"{V1}/releases/", {"ordering": ordering, "page_size": 2, "page": n}, **headers
        ).json()
        for n in (1, 2, 3, 4)
    ]

    listed = [row for page in pages for row in page["results"]]
    assert {page["count"] for page in pages} == {7}
    assert sorted(r["id"] for r in listed) == sorted(queryset.values_list("id", flat=True))
    by_id = {r["id"]: r for r in _plain(ReleaseSerializer(queryset, many=True).data)}
    assert listed == [by_id[r["id"]] for r in listed]
    for page in pages:  # each page in the order asked for
        ids = [r["id"] for r in page["results"]]
        assert ids == list(queryset.filter(pk__in=ids).values_list("id", flat=True))


def test_release_detail_equals_the_serializer(client, vera, assorted_releases) -> None:
    release = assorted_releases[1]

    response = client.get(f"{V1}/releases/{release.pk}/", **token_header(vera))

    assert response.json() == _plain(ReleaseSerializer(release).data)


def test_release_list_reads_the_page_in_one_query_and_counts_in_another(
    client, vera, assorted_releases
) -> None:
    headers = token_header(vera)
    client.get(f"{V1}/releases/", **headers)  # the token's last use is written once a minute

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{V1}/releases/", **headers)

    assert response.status_code == 200
    sql = [q["sql"] for q in ctx.captured_queries if "releases_release" in q["sql"]]
    assert len(sql) == 2 and "COUNT(*)" in sql[0]


@pytest.mark.parametrize(
    ("query", "count", "ids_from"),
    [
        ({"page_size": 2}, 4, slice(0, 2)),
        ({"page_size": 2, "page": 2}, 4, slice(2, 4)),
        ({"page_size": 3, "page": 2}, 4, slice(3, 4)),
        ({"page_size": 3, "page": "last"}, 4, slice(3, 4)),
        ({"page_size": 2, "phase": "planning"}, 4, slice(0, 2)),
    ],
)
def test_release_list_pages_count_every_filtered_release(
    client, vera, assorted_releases, query: dict, count: int, ids_from: slice
) -> None:
    newest_first = [r.pk for r in Release.objects.order_by("-created_at", "-id")]

    body = client.get(f"{V1}/releases/", query, **token_header(vera)).json()

    assert body["count"] == count
    assert [r["id"] for r in body["results"]] == newest_first[ids_from]
    assert (body["next"] is None) == (ids_from.stop >= count)
    assert (body["previous"] is None) == (ids_from.start == 0)


def test_release_list_counts_a_filtered_page(client, vera, assorted_releases) -> None:
    aero = Release.objects.get(application__slug="aero")

    body = client.get(f"{V1}/releases/", {"application_slug": "aero"}, **token_header(vera)).json()

    assert body["count"] == 1 and [r["id"] for r in body["results"]] == [aero.pk]


def test_release_list_past_the_end_is_404_and_an_empty_list_counts_0(
    client, vera, assorted_releases
) -> None:
    headers = token_header(vera)
    assert client.get(f"{V1}/releases/", {"page": 9}, **headers).status_code == 404
    empty = client.get(f"{V1}/releases/", {"application_slug": "none"}, **headers)
    assert empty.status_code == 200
    assert empty.json() == {"count": 0, "next": None, "previous": None, "results": []}


# Token lookup


def test_token_lookup_is_one_query_with_the_roles(client, vera) -> None:
    headers = token_header(vera)
    client.get(f"{V1}/me/", **headers)

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{V1}/me/", **headers)

    assert response.json()["user"]["roles"] == ["viewer"]
    assert sum("accounts_apitoken" in q["sql"] for q in ctx.captured_queries) == 1


def test_revoked_token_is_refused_on_the_next_request(client, vera) -> None:
    headers = token_header(vera)
    assert client.get(f"{V1}/me/", **headers).status_code == 200
    token_id = client.get(f"{V1}/tokens/", **headers).json()["results"][0]["id"]

    api_token_revoke(token_id=token_id, actor=vera)

    assert client.get(f"{V1}/me/", **headers).status_code == 401


def test_role_change_and_deactivation_take_effect_on_the_next_request(
    client, vera, release_for_reading
) -> None:
    headers = token_header(vera)
    url = f"{V1}/releases/{release_for_reading.pk}/status/"
    assert client.get(url, **headers).status_code == 200

    revoke_all(vera)
    assert client.get(url, **headers).status_code == 403

    give(vera, "viewer")
    vera.is_active = False
    vera.save(update_fields=["is_active"])
    assert client.get(url, **headers).status_code == 401


@pytest.fixture
def release_for_reading() -> Release:
    return ReleaseFactory()


# Throttling on Redis


@pytest.fixture
def redis_cache(settings: Any) -> Any:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": django_settings.REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    yield caches["default"]
    caches["default"].clear()


def test_tokens_are_throttled_on_redis_each_with_its_own_budget(
    client, settings, vera, redis_cache
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anon": "100/minute"},
    }
    first, second = token_header(vera), token_header(vera)

    answers = [client.get(f"{V1}/me/", **first).status_code for _ in range(4)]
    other = client.get(f"{V1}/me/", **second)
    limited = client.get(f"{V1}/me/", **first)

    assert answers == [200, 200, 200, 429]
    assert other.status_code == 200
    assert 1 <= int(limited["Retry-After"]) <= 60
    keys = list(redis_cache._cache.get_client().scan_iter(f"{redis_cache.key_prefix}*"))
    assert keys and all(0 < redis_cache._cache.get_client().ttl(k) <= 60 for k in keys)


# Status bodies


def test_status_is_written_in_each_readers_time_zone(client, rita, vera) -> None:
    release = ReleaseFactory()
    Profile.objects.update_or_create(user=rita, defaults={"time_zone": "Asia/Kolkata"})
    url = f"{V1}/releases/{release.pk}/status/"
    client.force_login(rita)
    local = client.get(url).json()
    client.logout()

    utc = client.get(url, **token_header(vera))

    assert local["phase_entered_at"].endswith("+05:30")
    assert utc.json()["phase_entered_at"].endswith("Z")


def test_status_of_an_unknown_release_is_404_json(client, vera) -> None:
    response = client.get(f"{V1}/releases/999999999/status/", **token_header(vera))

    assert response.status_code == 404
    assert response.json()["detail"]
