"""The GitHub App's webhook: signed or refused, stored once, answered 202 at once."""

import json

import pytest

from apps.audit.models import AuditEvent
from apps.github.models import DeploymentProtectionRequest
from tests.db_state import db_state

from .conftest import SHA, deliver, event, release_at, sign

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=" + "0" * 64, "sha1=abc", sign(b"another body")],
    ids=["missing", "wrong", "other algorithm", "other body"],
)
def test_a_bad_signature_is_401_and_writes_nothing(client, github, rita, signature):
    before = db_state()
    response = deliver(client, event(github), signature=signature)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert db_state() == before
    assert not DeploymentProtectionRequest.objects.exists()


def test_nothing_is_accepted_while_no_webhook_secret_is_set(client, github, settings):
    settings.RELEASEDECK_GITHUB_WEBHOOK_SECRET = ""
    response = deliver(client, event(github))
    assert response.status_code == 401
    assert not DeploymentProtectionRequest.objects.exists()


def test_a_ping_and_other_actions_are_ignored(client, github):
    assert deliver(client, {"zen": "Keep it simple."}, kind="ping").status_code == 200
    other = {**event(github), "action": "created"}
    assert deliver(client, other).status_code == 200
    assert not DeploymentProtectionRequest.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        {"action": "requested"},
        "no installation",
        "no commit",
        "callback elsewhere",
    ],
)
def test_a_malformed_event_is_400_and_writes_nothing(client, github, payload):
    good = event(github)
    if payload == "no installation":
        payload = {k: v for k, v in good.items() if k != "installation"}
    elif payload == "no commit":
        payload = {**good, "deployment": {"sha": "", "ref": ""}}
    elif payload == "callback elsewhere":
        payload = {**good, "deployment_callback_url": "https://attacker.example/steal"}
    before = db_state()
    response = deliver(client, payload)
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert db_state() == before
    assert not DeploymentProtectionRequest.objects.exists()


def test_a_request_is_stored_matched_and_accepted_at_once(
    client, github, rita, alice, bob, django_capture_on_commit_callbacks
):
    release = release_at(rita, alice, bob, "rollout")
    with django_capture_on_commit_callbacks() as callbacks:
        response = deliver(client, event(github), delivery="d-1")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["verdict"], body["release"], body["sha"]) == ("pending", release.pk, SHA)
    assert len(callbacks) == 1  # the verdict is looked at by a worker, after commit
    stored = DeploymentProtectionRequest.objects.get()
    assert (stored.environment.name, stored.installation_id, stored.repository) == (
        "prod-eu",
        77,
        "acme/crm",
    )
    event_ = AuditEvent.objects.filter(verb="github.protection_requested").get()
    assert event_.release_id == release.pk


def test_a_duplicate_delivery_is_the_same_request(client, github, rita, alice, bob):
    release_at(rita, alice, bob, "rollout")
    first = deliver(client, event(github), delivery="d-1").json()
    again = deliver(client, event(github), delivery="d-1")
    same_callback = deliver(client, event(github), delivery="d-2")
    assert again.status_code == same_callback.status_code == 202
    assert again.json()["id"] == same_callback.json()["id"] == first["id"]
    assert DeploymentProtectionRequest.objects.count() == 1
    assert AuditEvent.objects.filter(verb="github.protection_requested").count() == 1


def test_the_webhook_is_documented(client):
    schema = client.get("/api/schema/?format=json", HTTP_ACCEPT="application/json")
    operation = json.loads(schema.content)["paths"]["/api/v1/github/webhook/"]["post"]
    assert operation["operationId"] == "github_webhook"
    assert {"202", "200", "400", "401"} <= set(operation["responses"])


@pytest.fixture
def fresh_throttles():
    """The anonymous and webhook counters of the test client's address, empty before and after."""
    from django.core.cache import cache

    keys = ["throttle_anon_127.0.0.1", "throttle_webhook_127.0.0.1"]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def test_a_burst_of_signed_deliveries_is_not_held_to_the_anonymous_rate(
    client, github, settings, fresh_throttles
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "token": "1200/minute",
            "anon": "120/minute",
            "webhook": "1200/minute",
        },
    }
    answers = [
        deliver(client, {"zen": "Keep it simple."}, kind="ping").status_code for _ in range(121)
    ]
    unsigned = deliver(client, event(github), signature="sha256=" + "0" * 64)

    assert answers == [200] * 121
    assert unsigned.status_code == 401  # its own budget, but the signature is still checked
    # Other anonymous callers (here a deploy tool's report) keep the anonymous rate.
    reports = [
        client.post("/api/v1/waves/1/report/", {}, content_type="application/json").status_code
        for _ in range(121)
    ]
    assert 429 not in reports[:120]
    assert reports[120] == 429


def test_a_signed_delivery_past_the_webhook_rate_is_429(client, github, settings, fresh_throttles):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "token": "1200/minute",
            "anon": "120/minute",
            "webhook": "2/minute",
        },
    }
    answers = [
        deliver(client, {"zen": "Keep it simple."}, kind="ping").status_code for _ in range(3)
    ]

    assert answers == [200, 200, 429]
