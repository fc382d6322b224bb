"""Incident webhooks over HTTP: who may send them, what they freeze, and deliveries that come
twice or out of order."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.environments.models import FreezeWindow
from apps.incidents.models import Incident
from apps.notifications import services as ns
from apps.notifications.models import Notification
from tests.db_state import db_state

from .conftest import alert, alertmanager_body, bearer, pagerduty_body, pd_signature, post_hook

pytestmark = pytest.mark.django_db


def test_firing_alert_freezes_the_environment_its_route_names(client, alertmanager, prod_eu):
    body = alertmanager_body(alert("fp-1", service="crm", env="prod"))

    response = post_hook(client, "prom", body, **bearer(alertmanager.token))

    assert response.status_code == 202, response.json()
    assert response.json()["received"][0]["did"] == "opened; freeze declared"
    incident = Incident.objects.get(source=alertmanager, external_id="fp-1")
    assert incident.state == "open"
    assert incident.title == "CRM 5xx above 5%"
    freeze = incident.freeze
    assert freeze is not None and freeze.halts_running
    assert (freeze.scope, freeze.environment_id) == ("environment", prod_eu.pk)
    assert "fp-1" in freeze.reason and "https://prometheus.example.test/" in freeze.reason
    assert freeze.start <= timezone.now() < freeze.end
    assert freeze.end - freeze.start > timedelta(days=365)  # open-ended: until lifted
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"incident.opened", "freeze.created"} <= verbs


def test_alert_of_another_region_freezes_that_region(client, alertmanager, prod_us):
    body = alertmanager_body(alert("fp-us", region="us"))

    assert post_hook(client, "prom", body, **bearer(alertmanager.token)).status_code == 202

    freeze = Incident.objects.get(external_id="fp-us").freeze
    assert (freeze.scope, freeze.region, freeze.environment_id) == ("region", "us", None)


def test_alert_no_route_matches_is_recorded_and_freezes_nothing(client, alertmanager):
    body = alertmanager_body(alert("fp-2", service="erp", env="prod"))

    response = post_hook(client, "prom", body, **bearer(alertmanager.token))

    assert response.status_code == 202
    assert "no route matched" in response.json()["received"][0]["did"]
    assert Incident.objects.get(external_id="fp-2").freeze is None
    assert not FreezeWindow.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong-token"},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_AUTHORIZATION": "Bearer "},
    ],
    ids=["none", "wrong", "basic", "empty"],
)
def test_bad_bearer_token_is_401_and_writes_nothing(client, alertmanager, headers):
    body = alertmanager_body(alert("fp-1", service="crm", env="prod"))
    before = db_state()

    response = post_hook(client, "prom", body, **headers)

    assert response.status_code == 401
    assert response.json()["detail"]
    assert db_state() == before


def test_unknown_source_is_401_and_writes_nothing(client, alertmanager):
    before = db_state()
    response = post_hook(client, "nope", b"{}", **bearer(alertmanager.token))
    assert response.status_code == 401
    assert db_state() == before


def test_pagerduty_accepts_any_one_of_several_signatures(client, pagerduty):
    body = pagerduty_body("Q1ABC")
    signatures = f"v1={'0' * 64}, {pd_signature(body)}"

    response = post_hook(client, "pd", body, HTTP_X_PAGERDUTY_SIGNATURE=signatures)

    assert response.status_code == 202, response.json()
    incident = Incident.objects.get(source=pagerduty, external_id="Q1ABC")
    assert incident.url == "https://acme.pagerduty.com/incidents/Q1ABC"
    assert (incident.freeze.scope, incident.freeze.region) == ("region", "eu")


@pytest.mark.parametrize(
    "signature",
    ["", "v1=" + "0" * 64, "v0=abc", "sha256=abc"],
    ids=["missing", "wrong", "old-scheme", "other-scheme"],
)
def test_pagerduty_bad_signature_is_401_and_writes_nothing(client, pagerduty, signature):
    body = pagerduty_body("Q1ABC")
    before = db_state()

    response = post_hook(client, "pd", body, HTTP_X_PAGERDUTY_SIGNATURE=signature)

    assert response.status_code == 401
    assert db_state() == before


def test_pagerduty_signature_of_another_body_is_refused(client, pagerduty):
    signed = pagerduty_body("Q1ABC")
    tampered = pagerduty_body("Q1ABC", service="POTHER")
    before = db_state()
    response = post_hook(client, "pd", tampered, HTTP_X_PAGERDUTY_SIGNATURE=pd_signature(signed))
    assert response.status_code == 401
    assert db_state() == before


def test_pagerduty_event_types_other_than_trigger_and_resolve_are_ignored(client, pagerduty):
    body = pagerduty_body("Q1ABC", event_type="incident.acknowledged")
    response = post_hook(client, "pd", body, HTTP_X_PAGERDUTY_SIGNATURE=pd_signature(body))
    assert response.status_code == 202
    assert response.json()["received"][0]["did"] == "ignored"
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "Expected"),
        (json.dumps({"id": "1", "status": "maybe"}).encode(), "status"),
        (json.dumps({"status": "open"}).encode(), "id"),
        (json.dumps({"id": "1", "status": "open", "labels": ["a"]}).encode(), "labels"),
    ],
    ids=["broken", "not-utf8", "list", "bad-status", "no-id", "bad-labels"],
)
def test_generic_malformed_body_is_400_with_a_message_and_writes_nothing(
    client, generic, body, message
):
    before = db_state()

    response = post_hook(client, "status", body, **bearer(generic.token))

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert db_state() == before


def test_alertmanager_body_of_another_shape_is_400(client, alertmanager):
    for body in (b'{"version": "4"}', b'{"alerts": [1]}', b'{"alerts": [{"status": "odd"}]}'):
        response = post_hook(client, "prom", body, **bearer(alertmanager.token))
        assert response.status_code == 400, body
        assert response.json()["detail"]


def test_pagerduty_body_of_another_shape_is_400(client, pagerduty):
    body = b'{"messages": []}'
    response = post_hook(client, "pd", body, HTTP_X_PAGERDUTY_SIGNATURE=pd_signature(body))
    assert response.status_code == 400


def test_the_same_delivery_twice_opens_one_incident_and_one_freeze(client, generic):
    body = json.dumps({"id": "INC-7", "status": "open", "title": "Checkout down"}).encode()

    first = post_hook(client, "status", body, **bearer(generic.token))
    second = post_hook(client, "status", body, **bearer(generic.token))

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["received"][0]["did"] == "already open"
    assert Incident.objects.count() == 1
    assert FreezeWindow.objects.count() == 1
    assert AuditEvent.objects.filter(verb="incident.opened").count() == 1


def test_resolved_before_open_leaves_no_freeze(client, generic):
    resolved = json.dumps({"id": "INC-8", "status": "resolved"}).encode()
    opened = json.dumps({"id": "INC-8", "status": "open", "title": "Late"}).encode()

    assert post_hook(client, "status", resolved, **bearer(generic.token)).status_code == 202
    late = post_hook(client, "status", opened, **bearer(generic.token))

    assert late.json()["received"][0]["did"] == "already resolved"
    assert Incident.objects.get(external_id="INC-8").state == "resolved"
    assert not FreezeWindow.objects.exists()


def test_open_after_resolve_of_the_same_id_does_not_reopen(client, generic):
    for status in ("open", "resolved", "open"):
        body = json.dumps({"id": "INC-9", "status": status}).encode()
        assert post_hook(client, "status", body, **bearer(generic.token)).status_code == 202

    incident = Incident.objects.get(external_id="INC-9")
    assert incident.state == "resolved"
    assert FreezeWindow.objects.count() == 1  # the first open's, still there
    # A new incident id from the source is a new freeze.
    body = json.dumps({"id": "INC-10", "status": "open"}).encode()
    post_hook(client, "status", body, **bearer(generic.token))
    assert FreezeWindow.objects.count() == 2


def test_resolving_keeps_the_freeze_unless_the_source_lifts_on_resolve(client, generic):
    def send(incident_id: str, status: str) -> None:
        body = json.dumps({"id": incident_id, "status": status}).encode()
        assert post_hook(client, "status", body, **bearer(generic.token)).status_code == 202

    send("A", "open")
    send("A", "resolved")
    kept = Incident.objects.get(external_id="A").freeze
    assert kept.end > timezone.now()

    generic.lift_on_resolve = True
    generic.save()
    send("B", "open")
    send("B", "resolved")
    lifted = Incident.objects.get(external_id="B").freeze
    assert lifted.end <= timezone.now()
    assert AuditEvent.objects.filter(verb="freeze.lifted", object_id=str(lifted.pk)).exists()
    assert Incident.objects.get(external_id="B").state == "resolved"


def test_a_source_with_an_expiry_freezes_for_that_long(client, generic):
    generic.freeze_hours = 4
    generic.save()
    body = json.dumps({"id": "X", "status": "open"}).encode()
    post_hook(client, "status", body, **bearer(generic.token))
    freeze = Incident.objects.get(external_id="X").freeze
    assert freeze.end - freeze.start == timedelta(hours=4)


def test_each_step_tells_the_webhooks(client, rita, generic):
    ns.webhook_create(
        name="Chat", url="https://chat.example.test/hook", secret="s" * 16, actor=rita
    )
    for status in ("open", "resolved"):
        body = json.dumps({"id": "N", "status": status, "title": "Payments"}).encode()
        post_hook(client, "status", body, **bearer(generic.token))

    events = list(Notification.objects.order_by("pk").values_list("event", flat=True))
    assert events == ["incident.opened", "freeze.created", "incident.resolved"]
    payload = Notification.objects.get(event="freeze.created").payload
    assert payload["incident"]["external_id"] == "N"
    assert payload["freeze"]["environment"] == "prod-eu"


def test_the_hook_answers_only_post(client, generic):
    response = client.get("/api/v1/incidents/hooks/status/", **bearer(generic.token))
    assert response.status_code == 405
