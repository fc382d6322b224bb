"""What an incident webhook says, whatever its sender: verifying a request and reading its
body into `Event`s. Pure: no ORM, no I/O."""

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from apps.core.errors import ServiceError

PAGERDUTY_SIGNATURE_HEADER = "X-PagerDuty-Signature"
# PagerDuty v3 event types that open or resolve an incident; any other is acknowledged and
# ignored (acknowledged, annotated, reassigned, ...). A reopened incident is not reopened here:
# PagerDuty sends it with the same id, and only a new incident freezes again.
PAGERDUTY_OPEN = frozenset({"incident.triggered"})
PAGERDUTY_RESOLVED = frozenset({"incident.resolved"})

Status = Literal["open", "resolved", "ignored"]


class NotAuthenticated(ServiceError):
    status = 401


class BadPayload(ServiceError):
    """A body that is not JSON, or not the shape its source sends."""


@dataclass(frozen=True)
class Event:
    """One incident's news: its source's id for it, whether it opened or resolved."""

    external_id: str
    status: Status
    title: str = ""
    url: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_ok(headers: Mapping[str, str], token_sha256: str) -> bool:
    """`Authorization: Bearer <token>` whose SHA-256 is the one kept (constant-time)."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or not token_sha256:
        return False
    return hmac.compare_digest(token_digest(token.strip()), token_sha256)


def pagerduty_ok(body: bytes, headers: Mapping[str, str], secret: str) -> bool:
    """PagerDuty v3: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>`, maybe
    several comma-separated (while a secret is rotated); any one matching will do."""
    if not secret:
        return False
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    offered = [s.strip() for s in headers.get(PAGERDUTY_SIGNATURE_HEADER, "").split(",")]
    # Every candidate is compared, so timing says nothing of which one matched.
    return any([hmac.compare_digest(expected, s) for s in offered if s])


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("The body is not JSON.") from None


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _url(value: Any) -> str:
    text = _text(value, 500)
    return text if text.startswith(("https://", "http://")) else ""


def _labels(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadPayload(f"{where} must be an object of strings.", field=where)
    return {k[:100]: v[:300] for k, v in value.items()}


def _external_id(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise BadPayload(
            f"{where} must be a non-empty string of at most 200 characters.", field=where
        )
    return value.strip()


def alertmanager_events(data: Any) -> list[Event]:
    """Alertmanager webhook v4: each alert of the group is an incident, by its fingerprint."""
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise BadPayload("Expected an Alertmanager webhook (version 4) with an alerts list.")
    events = []
    for i, alert in enumerate(data["alerts"]):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise BadPayload(f"{where} must be an object.", field=where)
        labels = _labels(alert.get("labels"), f"{where}.labels")
        annotations = _object(alert.get("annotations"))
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise BadPayload(f'{where}.status must be "firing" or "resolved".', field=where)
        fingerprint = alert.get("fingerprint")
        if fingerprint is None:  # older senders: the labels are the alert's identity
            fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[
                :32
            ]
        events.append(
            Event(
                external_id=_external_id(fingerprint, f"{where}.fingerprint"),
                status="open" if status == "firing" else "resolved",
                title=_text(annotations.get("summary"), 300) or labels.get("alertname", ""),
                url=_url(alert.get("generatorURL")),
                labels=labels,
            )
        )
    return events


def pagerduty_events(data: Any) -> list[Event]:
    """PagerDuty v3 webhook: one event about one incident; labels `service_id`, `service`
    (its name) and `urgency` are what routes match."""
    event = data.get("event") if isinstance(data, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
        raise BadPayload("Expected a PagerDuty v3 webhook: an event with an event_type.")
    if event.get("resource_type", "incident") != "incident":
        return []
    incident = event.get("data")
    if not isinstance(incident, dict):
        raise BadPayload("event.data must be the incident.", field="event.data")
    service = _object(incident.get("service"))
    labels = {
        "service_id": _text(service.get("id"), 100),
        "service": _text(service.get("summary"), 300),
        "urgency": _text(incident.get("urgency"), 20),
    }
    kind = event["event_type"]
    status: Status = (
        "open"
        if kind in PAGERDUTY_OPEN
        else "resolved"
        if kind in PAGERDUTY_RESOLVED
        else "ignored"
    )
    return [
        Event(
            external_id=_external_id(incident.get("id"), "event.data.id"),
            status=status,
            title=_text(incident.get("title"), 300),
            url=_url(incident.get("html_url")),
            labels={k: v for k, v in labels.items() if v},
        )
    ]


def generic_events(data: Any) -> list[Event]:
    """The generic form: `{"id", "status": "open"|"resolved", "title", "url", "labels"}`."""
    if not isinstance(data, dict):
        raise BadPayload(
            'Expected {"id", "status": "open" or "resolved", "title", "url", "labels"}.'
        )
    status = data.get("status")
    if status not in ("open", "resolved"):
        raise BadPayload('status must be "open" or "resolved".', field="status")
    return [
        Event(
            external_id=_external_id(data.get("id"), "id"),
            status=status,
            title=_text(data.get("title"), 300),
            url=_url(data.get("url")),
            labels=_labels(data.get("labels"), "labels"),
        )
    ]


def matches(match: Mapping[str, object], labels: Mapping[str, str]) -> bool:
    """Every label a route names has that value on the incident (an empty match: any)."""
    return all(labels.get(key) == value for key, value in match.items())
