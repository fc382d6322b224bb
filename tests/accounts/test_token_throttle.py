"""Guessing API tokens: failures are counted per client address, answered 429 past the budget
(a right guess then earns nothing either), and audited once per address and period."""

import secrets
import time

import pytest
from django.test import Client, override_settings

from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify

pytestmark = pytest.mark.django_db
STATUS = "/api/v1/releases/"


@pytest.fixture(autouse=True)
def own_cache(settings, request):
    """An in-memory cache of this test's own: counters never leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"throttle-{request.node.nodeid}",
        }
    }


def ask(address: str, key: str) -> object:
    return Client(REMOTE_ADDR=address).get(STATUS, HTTP_AUTHORIZATION=f"Token {key}")


@override_settings(RELEASEDECK_FAILED_TOKEN_RATE="20/minute")
def test_random_tokens_are_refused_with_429_past_the_budget_and_audited_twice(vera):
    _, good = api_token_create(actor=vera, name="ci")
    answers = [ask("203.0.113.7", secrets.token_urlsafe(32)) for _ in range(130)]
    codes = [a.status_code for a in answers]
    assert codes == [401] * 20 + [429] * 110
    refused = answers[-1]
    assert refused["Content-Type"] == "application/json"
    assert refused.json()["detail"].startswith("Too many failed token authentications")
    assert 1 <= int(refused["Retry-After"]) <= 60

    # The right token from that address waits too; from another address it works.
    assert ask("203.0.113.7", good).status_code == 429
    assert ask("198.51.100.2", good).status_code == 200

    events = AuditEvent.objects.filter(verb__startswith="api_auth.").order_by("id")
    assert [(e.verb, e.object_id, e.after["failures"]) for e in events] == [
        ("api_auth.failed", "203.0.113.7", 1),
        ("api_auth.throttled", "203.0.113.7", 20),
    ]
    assert events[1].after == {"address": "203.0.113.7", "failures": 20, "limit": 20, "period": 60}
    assert events[0].actor_id is None
    assert audit_verify()[1] is None


@override_settings(RELEASEDECK_FAILED_TOKEN_RATE="3/second")
def test_the_budget_comes_back_when_the_period_ends(vera):
    _, good = api_token_create(actor=vera, name="ci")
    time.sleep(1 - time.time() % 1)  # start at the beginning of a period
    assert [ask("192.0.2.1", "nope").status_code for _ in range(4)] == [401, 401, 401, 429]
    time.sleep(1.05)
    assert ask("192.0.2.1", good).status_code == 200


@override_settings(RELEASEDECK_FAILED_TOKEN_RATE="5/minute")
def test_malformed_headers_and_tokens_of_inactive_users_count_as_failures(vera, charlie):
    _, dormant = api_token_create(actor=charlie, name="old")
    charlie.is_active = False
    charlie.save(update_fields=["is_active"])
    client = Client(REMOTE_ADDR="192.0.2.9")
    codes = [
        client.get(STATUS, HTTP_AUTHORIZATION="Token").status_code,
        client.get(STATUS, HTTP_AUTHORIZATION="Token a b").status_code,
        client.get(STATUS, HTTP_AUTHORIZATION=b"Token \xff".decode("latin-1")).status_code,
        client.get(STATUS, HTTP_AUTHORIZATION=f"Token {dormant}").status_code,
        client.get(STATUS, HTTP_AUTHORIZATION="Token wrong").status_code,
        client.get(STATUS, HTTP_AUTHORIZATION="Token wrong").status_code,
    ]
    assert codes == [401] * 5 + [429]


@override_settings(RELEASEDECK_FAILED_TOKEN_RATE="2/minute")
def test_requests_without_a_token_and_good_tokens_spend_nothing(vera):
    _, good = api_token_create(actor=vera, name="ci")
    for _ in range(5):
        assert ask("192.0.2.5", good).status_code == 200
        assert Client(REMOTE_ADDR="192.0.2.5").get(STATUS).status_code in (401, 403)
    assert not AuditEvent.objects.filter(verb__startswith="api_auth.").exists()


@override_settings(RELEASEDECK_FAILED_TOKEN_RATE="")
def test_an_empty_rate_leaves_failures_unlimited(roles_seeded):
    assert {ask("192.0.2.6", "x").status_code for _ in range(30)} == {401}
