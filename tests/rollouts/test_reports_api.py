"""Deploy tools reporting over HTTP, and what the API shows of deploy calls and rollbacks."""

import json
import time

import pytest
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.core import signing
from apps.rollouts.delivery import report_token
from apps.rollouts.models import DeployCall, Wave
from tests.factories import EnvironmentFactory
from tests.rollouts.test_engine_steps import run_engine, tool, waves_of, webhook_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def deploying(rita):
    """A webhook wave whose deploy call the tool has accepted (answered 202)."""
    env = EnvironmentFactory(name="prod-eu", region="eu")
    with tool() as (url, _):
        release = webhook_release(rita, url, [env], bake=30)
        run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    return wave, DeployCall.objects.get(wave=wave, action="deploy")


def auth(user) -> dict[str, str]:
    _, key = api_token_create(actor=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def signed_post(client, wave: Wave, payload: dict, *, secret: str = "secret-of-prod-eu", **extra):
    body = json.dumps(payload).encode()
    headers = signing.signed_headers(body, secret, **extra)
    return client.post(
        f"/api/v1/waves/{wave.pk}/report/",
        data=body,
        content_type="application/json",
        HTTP_X_RELEASEDECK_TIMESTAMP=headers[signing.TIMESTAMP_HEADER],
        HTTP_X_RELEASEDECK_SIGNATURE=headers[signing.SIGNATURE_HEADER],
    )


def test_a_report_signed_with_the_deploy_secret_moves_the_wave_on(client, deploying):
    wave, call = deploying
    answer = signed_post(client, wave, {"status": "succeeded", "key": str(call.key)})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["state"] == "succeeded"
    run_engine(wave.plan.release, timezone.now())
    wave.refresh_from_db()
    assert wave.state == "verifying"


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "guessed"},
        {"timestamp": int(time.time()) - 301},  # a captured report replayed too late
    ],
)
def test_forged_or_replayed_reports_are_refused(client, deploying, forgery):
    wave, call = deploying
    secret = forgery.get("secret", "secret-of-prod-eu")
    extra = {"timestamp": forgery["timestamp"]} if "timestamp" in forgery else {}
    answer = signed_post(
        client, wave, {"status": "succeeded", "key": str(call.key)}, secret=secret, **extra
    )
    assert answer.status_code == 401
    assert "signature" in answer.json()["detail"]
    call.refresh_from_db()
    assert call.state == "sent"


def test_an_operators_token_is_not_a_deploy_tools_credential(client, deploying, oscar):
    wave, call = deploying
    answer = client.post(
        f"/api/v1/waves/{wave.pk}/report/",
        data={"status": "succeeded", "key": str(call.key)},
        content_type="application/json",
        **auth(oscar),
    )
    assert answer.status_code == 401
    call.refresh_from_db()
    assert call.state == "sent"


def test_a_report_without_a_key_is_refused(client, deploying):
    wave, call = deploying
    answer = signed_post(client, wave, {"status": "succeeded"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "key"
    wave.refresh_from_db()
    assert wave.state == "deploying"


def test_the_report_url_token_authenticates_its_call(client, deploying):
    wave, call = deploying
    url = f"/api/v1/waves/{wave.pk}/report/?token={report_token(call)}"
    answer = client.post(
        url, data={"status": "failed", "key": str(call.key)}, content_type="application/json"
    )
    assert answer.status_code == 200
    assert answer.json()["state"] == "failed"
    wrong = client.post(
        f"/api/v1/waves/{wave.pk}/report/?token={'0' * 64}",
        data={"status": "failed", "key": str(call.key)},
        content_type="application/json",
    )
    assert wrong.status_code == 401


def test_rollback_answers_202_and_a_late_deploy_report_is_refused_with_409(
    client, deploying, oscar
):
    wave, call = deploying
    answer = client.post(
        f"/api/v1/waves/{wave.pk}/rollback/",
        data={"reason": "Wrong build"},
        content_type="application/json",
        **auth(oscar),
    )
    assert answer.status_code == 202
    assert (answer.json()["state"], answer.json()["rollback_pending"]) == ("deploying", True)

    late = signed_post(client, wave, {"status": "succeeded", "key": str(call.key)})
    assert late.status_code == 409
    assert late.json()["blockers"][0]["code"] == "report_not_current"
    call.refresh_from_db()
    assert call.state == "sent"
    assert AuditEvent.objects.filter(verb="deploy.report_refused", object_id=str(call.pk)).exists()

    rollback = DeployCall.objects.get(wave=wave, action="rollback")
    confirmed = signed_post(
        client, wave, {"status": "succeeded", "key": str(rollback.key), "action": "rollback"}
    )
    assert confirmed.status_code == 200
    run_engine(wave.plan.release, timezone.now())
    shown = client.get(f"/api/v1/waves/{wave.pk}/", **auth(oscar)).json()
    assert (shown["state"], shown["rollback_pending"]) == ("rolled_back", False)


def test_call_keys_are_shown_to_operators_not_to_viewers(client, deploying, oscar, vera):
    wave, call = deploying
    url = f"/api/v1/waves/{wave.pk}/deploy-calls/"
    as_viewer = client.get(url, **auth(vera)).json()["results"]
    as_operator = client.get(url, **auth(oscar)).json()["results"]
    assert "key" not in as_viewer[0]
    assert as_operator[0]["key"] == str(call.key)
