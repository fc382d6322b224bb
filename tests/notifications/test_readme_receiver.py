"""The README's "Webhooks" section held to the code: its receiver, taken from the README text
itself, accepts what ReleaseDeck really sends (a notification and a deploy request) and
refuses forgeries, stale timestamps and repeats; the report call it documents is accepted;
the names it lists are the ones the code uses."""

import json
import re
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from apps.core import signing
from apps.notifications.models import Notification, OutboundWebhook
from apps.notifications.outbox import SUBJECTS, notification_send
from apps.releases.services import release_move
from apps.rollouts.models import DeployAction, DeployCall, ReportStatus
from tests.factories import EnvironmentFactory
from tests.loopback import loopback_server
from tests.rollouts.test_engine_steps import run_engine, tool, waves_of, webhook_release

pytestmark = pytest.mark.django_db

SECTION = "## Webhooks: what deploy tools and receivers get"


def readme_section() -> str:
    text = (Path(settings.BASE_DIR) / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else None]


def receiver_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme_section(), flags=re.S)
    (code,) = [b for b in blocks if "def receive(" in b]
    return code


def receiver(secret: str, clock: float | None = None) -> dict[str, Any]:
    """The README's code, run as a receiver would run it, with this secret (and clock)."""
    namespace: dict[str, Any] = {}
    exec(compile(receiver_code(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    namespace["SECRET"] = secret.encode()
    if clock is not None:
        namespace["time"] = type("Clock", (), {"time": staticmethod(lambda: clock)})
    return namespace


def as_received(request: dict[str, Any]) -> Message:
    """Headers as web frameworks hand them over: case-insensitive (urllib sends
    `X-releasedeck-signature`)."""
    headers = Message()
    for name, value in request["headers"].items():
        headers[name] = value
    return headers


def test_the_readme_receiver_is_short():
    assert len(receiver_code().strip().splitlines()) <= 18


def test_the_readme_receiver_accepts_a_real_notification_once(release, rita):
    secret = "notification-secret-123"
    with loopback_server(lambda *r: (200, {})) as (url, received):
        OutboundWebhook.objects.create(name="bot", url=f"{url}/in", secret=secret)
        release_move(release_id=release.pk, to="preparation", actor=rita)
        row = Notification.objects.get(channel="webhook")
        assert notification_send(notification_id=row.pk) == "sent"
        (request,) = received.received("POST")
    headers, body = as_received(request), request["body"]
    code = receiver(secret)

    status, payload = code["receive"](headers, body)
    assert status == 200
    assert payload == json.loads(body)
    assert payload["event"] == "release.moved"
    assert set(payload) == {"event", "at", "release", "wave", "text"}
    assert set(payload["release"]) == {"id", "name", "version", "phase"}
    assert code["receive"](headers, body) == (200, None)  # the same key again: a repeat

    assert receiver("another secret")["receive"](headers, body) == (401, None)
    tampered = body.replace(b"preparation", b"completed")
    assert receiver(secret)["receive"](headers, tampered) == (401, None)
    late = int(headers["X-ReleaseDeck-Timestamp"]) + 301
    assert receiver(secret, clock=late)["receive"](headers, body) == (401, None)
    early = int(headers["X-ReleaseDeck-Timestamp"]) - 301
    assert receiver(secret, clock=early)["receive"](headers, body) == (401, None)
    del headers["X-ReleaseDeck-Timestamp"]
    assert receiver(secret)["receive"](headers, body) == (401, None)


@pytest.fixture
def prod_eu():
    return EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin")


def test_the_readme_receiver_accepts_a_real_deploy_request(rita, prod_eu):
    with tool() as (url, received):
        release = webhook_release(rita, url, [prod_eu])
        run_engine(release, timezone.now())
        (request,) = received.received("POST")
    (wave,) = waves_of(release)
    call = DeployCall.objects.get(wave=wave)
    headers, body = as_received(request), request["body"]

    status, payload = receiver(f"secret-of-{prod_eu.name}")["receive"](headers, body)
    assert status == 200
    assert payload["key"] == str(call.key) == headers["Idempotency-Key"]
    assert payload["action"] == "deploy"
    assert payload["report_url"].startswith(
        f"{settings.RELEASEDECK_PUBLIC_URL.rstrip('/')}/api/v1/waves/{wave.pk}/report/"
    )
    documented = {"action", "key", "release", "version", "wave", "environment", "percentage"}
    assert set(payload) == documented | {"report_url"}
    assert receiver("not the deploy secret")["receive"](headers, body) == (401, None)


def test_the_report_call_as_documented_is_accepted(client, rita, prod_eu):
    with tool() as (url, received):
        release = webhook_release(rita, url, [prod_eu])
        run_engine(release, timezone.now())
        (request,) = received.received("POST")
    payload = json.loads(request["body"])
    public = settings.RELEASEDECK_PUBLIC_URL.rstrip("/")
    with_token = payload["report_url"].removeprefix(public)
    without_token = with_token.split("?")[0]
    report = {
        "key": payload["key"],
        "action": "deploy",
        "status": "in_progress",
        "message": "3 of 12",
    }

    answer = client.post(with_token, report, content_type="application/json")
    assert answer.status_code == 200, answer.json()
    assert client.post(without_token, report, content_type="application/json").status_code == 401

    body = json.dumps(report | {"status": "succeeded", "message": "12 of 12"}).encode()
    headers = signing.signed_headers(body, f"secret-of-{prod_eu.name}")
    answer = client.post(
        without_token,
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert answer.status_code == 200, answer.json()
    call = DeployCall.objects.get(key=payload["key"])
    assert (call.state, call.report_message) == ("succeeded", "12 of 12")


def test_the_names_the_readme_lists_are_the_codes():
    section = readme_section()
    for name in [*ReportStatus.values, *DeployAction.values, *SUBJECTS]:
        assert f"`{name}`" in section, name
    for header in (signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER, "Idempotency-Key"):
        assert f"`{header}`" in section, header


def test_the_schema_describes_both_requests(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    deploy = components["Environment"]["properties"]["deploy_url"]["description"]
    notification = components["NotificationWebhook"]["description"]
    for text in (deploy, notification):
        for header in (
            signing.TIMESTAMP_HEADER,
            f"{signing.SIGNATURE_HEADER}: sha256=",
            "Idempotency-Key",
        ):
            assert header in text
    for field in ("action", "key", "build_ref", "position", "percentage", "report_url"):
        assert f'"{field}"' in deploy, field
    for field in ("event", "at", "release", "wave", "text", "phase", "state"):
        assert f'"{field}"' in notification, field
