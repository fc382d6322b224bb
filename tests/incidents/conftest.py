"""Incident sources as a platform person sets them up, and requests as their senders sign them."""

import hashlib
import hmac
import json
from typing import Any

import pytest

from apps.incidents import services as inc
from tests.factories import ApplicationFactory, EnvironmentFactory


@pytest.fixture
def prod_eu(db):
    return EnvironmentFactory(name="prod-eu", region="eu", tier="production")


@pytest.fixture
def crm(db):
    return ApplicationFactory(name="CRM", slug="crm")


@pytest.fixture
def prod_us(db):
    return EnvironmentFactory(name="prod-us", region="us", tier="production")


@pytest.fixture
def alertmanager(rita, prod_eu):
    """An Alertmanager source: CRM's prod alerts freeze prod-eu; anything in region us, that region."""
    source, token = inc.incident_source_create(
        name="Prometheus", slug="prom", kind="alertmanager", actor=rita
    )
    inc.incident_route_add(
        source_id=source.pk,
        match={"service": "crm", "env": "prod"},
        scope="environment",
        environment_id=prod_eu.pk,
        actor=rita,
    )
    inc.incident_route_add(
        source_id=source.pk, match={"region": "us"}, scope="region", region="us", actor=rita
    )
    source.token = token
    return source


PD_SECRET = "pd-signing-secret-0123456789"


@pytest.fixture
def pagerduty(rita, prod_eu):
    source, _ = inc.incident_source_create(
        name="PagerDuty", slug="pd", kind="pagerduty", secret=PD_SECRET, actor=rita
    )
    inc.incident_route_add(
        source_id=source.pk, match={"service_id": "PCRM01"}, scope="region", region="eu", actor=rita
    )
    return source


@pytest.fixture
def generic(rita, prod_eu):
    source, token = inc.incident_source_create(
        name="Status page", slug="status", kind="generic", actor=rita
    )
    inc.incident_route_add(
        source_id=source.pk, match={}, scope="environment", environment_id=prod_eu.pk, actor=rita
    )
    source.token = token
    return source


def alert(fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", **labels},
        "annotations": {"summary": "CRM 5xx above 5%"},
        "startsAt": "2026-12-04T20:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://prometheus.example.test/graph?g0.expr=errors",
        "fingerprint": fingerprint,
    }


def alertmanager_body(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "releasedeck",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "https://alertmanager.example.test",
            "alerts": list(alerts),
        }
    ).encode()


def pagerduty_body(
    incident_id: str, event_type: str = "incident.triggered", service: str = "PCRM01"
) -> bytes:
    return json.dumps(
        {
            "event": {
                "id": f"evt-{incident_id}-{event_type}",
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-12-04T20:00:00Z",
                "data": {
                    "id": incident_id,
                    "type": "incident",
                    "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                    "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                    "number": 42,
                    "status": "triggered",
                    "title": "CRM checkout failing",
                    "urgency": "high",
                    "service": {"id": service, "summary": "CRM", "type": "service_reference"},
                },
            }
        }
    ).encode()


def pd_signature(body: bytes, secret: str = PD_SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_hook(client, slug: str, body: bytes, **headers: str):
    return client.post(
        f"/api/v1/incidents/hooks/{slug}/", data=body, content_type="application/json", **headers
    )


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
