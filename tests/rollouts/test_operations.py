"""What operators do to running waves, and what deploy tools report back."""

import json
import time
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core import signing
from apps.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from apps.environments import services as env_services
from apps.environments.models import Environment
from apps.environments.stop_line import stop_the_line_set
from apps.notifications.models import Notification
from apps.releases.models import Release
from apps.releases.services import release_move
from apps.rollouts import services as ro
from apps.rollouts.delivery import report_token
from apps.rollouts.models import Check, CheckResult, DeployCall, Wave
from apps.rollouts.operations import check_confirm, wave_operate
from apps.rollouts.reports import NotAuthenticated, ReportCredentials, deploy_report
from apps.stakeholders import services as sh
from tests.factories import EnvironmentFactory
from tests.rollouts.test_engine_steps import (
    report_sent_deploys,
    rolling_out,
    run_engine,
    tool,
    tool_report,
    waves_of,
    webhook_release,
)
from tests.rollouts.test_services import (
    answered_without_writing,
    api_refused,
    refused_without_writing,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def prod_eu():
    return EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin")


@pytest.fixture
def prod_us():
    return EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")


def verifying(rm: Any, environments: list[Environment], **wave_fields: Any) -> Release:
    """A rolling-out release whose first wave is deployed and baking for half an hour."""
    release = rolling_out(rm, environments, bake_minutes=30, **wave_fields)
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "verifying"
    return release


def operate(wave: Wave, action: str, actor: Any, reason: str = "") -> Wave:
    return wave_operate(wave_id=wave.pk, action=action, actor=actor, reason=reason)


def last_wave_event(wave: Wave) -> AuditEvent:
    return AuditEvent.objects.filter(object_id=str(wave.pk), verb="wave.state_changed").latest("id")


# Start now


def test_start_now_starts_a_wave_before_its_planned_time(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu], planned_local="2030-01-07T09:00")
    (wave,) = waves_of(release)
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "scheduled"

    started = operate(wave, "start", oscar, "Customer escalation")
    assert started.state == "deploying"
    assert started.started_at is not None
    event = last_wave_event(wave)
    assert (event.actor_id, event.reason) == (
        oscar.pk,
        "Started by oscar: Customer escalation. Deploying 100% to prod-eu",
    )

    events = AuditEvent.objects.count()
    assert operate(wave, "start", oscar).state == "deploying"
    assert AuditEvent.objects.count() == events


def start_refused_with(wave: Wave, oscar, text: str) -> None:
    error = refused_without_writing(lambda: operate(wave, "start", oscar), Conflict)
    assert [b.code for b in error.blockers] == ["wave_blocked"] * len(error.blockers)
    assert any(text in b.message for b in error.blockers), error.blockers


def test_start_now_refused_during_a_freeze(rita, oscar, prod_eu):
    now = timezone.now()
    env_services.freeze_create(
        scope="region",
        region="eu",
        start=now - timedelta(hours=1),
        end=now + timedelta(days=2),
        reason="Quarter-end close",
        actor=rita,
    )
    release = rolling_out(rita, [prod_eu])
    start_refused_with(waves_of(release)[0], oscar, "(Quarter-end close)")


def test_start_now_refused_under_stop_the_line(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu])
    stop_the_line_set(active=True, reason="Payment outage", actor=oscar)
    start_refused_with(waves_of(release)[0], oscar, "Stop the line is on: Payment outage")


def test_start_now_refused_until_the_wave_is_signed_off(rita, oscar, bob, prod_eu):
    release = rolling_out(rita, [prod_eu])
    sh.stakeholder_add(release_id=release.pk, user_id=bob.pk, role="business_owner", actor=rita)
    (wave,) = waves_of(release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    start_refused_with(wave, oscar, "needs 1 more business owner approval")


def test_start_now_refused_while_an_earlier_wave_runs(rita, oscar, prod_eu, prod_us):
    release = verifying(rita, [prod_eu, prod_us])
    error = refused_without_writing(lambda: operate(waves_of(release)[1], "start", oscar), Conflict)
    assert [b.code for b in error.blockers] == ["earlier_wave_running"]


# Pause, resume, abort, skip


def test_pause_and_resume_a_baking_wave(rita, oscar, prod_eu):
    release = verifying(rita, [prod_eu])
    (wave,) = waves_of(release)

    paused = operate(wave, "pause", oscar, "Odd latency graph")
    assert (paused.state, paused.state_reason, paused.next_step_at) == (
        "halted",
        "Paused by oscar: Odd latency graph",
        None,
    )
    assert last_wave_event(wave).actor_id == oscar.pk
    events = AuditEvent.objects.count()
    assert operate(wave, "pause", oscar).state == "halted"
    assert AuditEvent.objects.count() == events

    resumed = operate(wave, "resume", oscar)
    assert (resumed.state, resumed.state_reason) == ("verifying", "Resumed by oscar")
    assert resumed.bake_started_at == paused.bake_started_at  # the bake carries on, not restarts
    assert last_wave_event(wave).actor_id == oscar.pk
    events = AuditEvent.objects.count()
    assert operate(wave, "resume", oscar).state == "verifying"
    assert AuditEvent.objects.count() == events


def test_resume_starts_the_checks_counting_afresh(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu], bake_minutes=30)
    (wave,) = waves_of(release)
    check = ro.check_add(
        wave_id=wave.pk, name="health", kind="http", actor=rita, config={"url": "http://a.test/"}
    )
    run_engine(release, timezone.now())
    operate(wave, "pause", oscar, "Looking")
    Check.objects.filter(pk=check.pk).update(consecutive_failures=2, next_run_at=None)

    operate(wave, "resume", oscar)
    check.refresh_from_db()
    assert check.consecutive_failures == 0
    assert check.next_run_at is not None


def test_abort_fails_the_wave_and_needs_a_reason(rita, oscar, prod_eu):
    release = verifying(rita, [prod_eu])
    (wave,) = waves_of(release)
    error = refused_without_writing(lambda: operate(wave, "abort", oscar), ServiceError)
    assert error.field == "reason"

    aborted = operate(wave, "abort", oscar, "Wrong build")
    assert (aborted.state, aborted.state_reason) == ("failed", "Aborted by oscar: Wrong build")
    assert last_wave_event(wave).actor_id == oscar.pk
    events = AuditEvent.objects.count()
    assert operate(wave, "abort", oscar, "Wrong build").state == "failed"
    assert AuditEvent.objects.count() == events


def test_skip_needs_a_reason_and_moves_on_to_the_next_wave(rita, oscar, prod_eu, prod_us):
    release = rolling_out(rita, [prod_eu, prod_us])
    first, second = waves_of(release)
    error = refused_without_writing(lambda: operate(first, "skip", oscar, "  "), ServiceError)
    assert error.field == "reason"

    skipped = operate(first, "skip", oscar, "No EU customers use this module")
    assert (skipped.state, skipped.skip_reason) == (
        "skipped",
        "Skipped by oscar: No EU customers use this module",
    )
    assert last_wave_event(first).actor_id == oscar.pk
    second.refresh_from_db()
    assert second.next_step_at is not None  # armed at once
    events = AuditEvent.objects.count()
    assert operate(first, "skip", oscar, "again").state == "skipped"
    assert AuditEvent.objects.count() == events
    run_engine(release, timezone.now())
    assert [w.state for w in waves_of(release)] == ["skipped", "succeeded"]


def test_a_running_wave_cannot_be_skipped(rita, oscar, prod_eu):
    release = verifying(rita, [prod_eu])
    refused_without_writing(lambda: operate(waves_of(release)[0], "skip", oscar, "why"), Conflict)


# Roll back


def test_rollback_asks_the_deploy_tool_and_waits_for_its_confirmation(rita, oscar, vera, prod_eu):
    with tool() as (url, received):
        release = webhook_release(rita, url, [prod_eu], bake=30)
        sh.stakeholder_add(release_id=release.pk, user_id=vera.pk, role="it_support", actor=rita)
        run_engine(release, timezone.now())
        report_sent_deploys(release)
        run_engine(release, timezone.now())
        (wave,) = waves_of(release)
        assert wave.state == "verifying"

        rolled = operate(wave, "rollback", oscar, "Customers report wrong totals")
        # Asked, not done: the wave keeps its state until the tool confirms.
        assert (rolled.state, rolled.rollback_pending, rolled.state_reason) == (
            "verifying",
            True,
            "Rolling back: Rollback asked by oscar: Customers report wrong totals",
        )
        event = AuditEvent.objects.filter(object_id=str(wave.pk)).latest("id")
        assert (event.verb, event.actor_id) == ("wave.reason_changed", oscar.pk)
        call = DeployCall.objects.get(wave=wave, action="rollback")
        events = AuditEvent.objects.count()
        assert operate(wave, "rollback", oscar, "again").rollback_pending
        assert AuditEvent.objects.count() == events
        assert DeployCall.objects.filter(wave=wave, action="rollback").count() == 1
        with pytest.raises(Conflict) as refused:
            operate(wave, "pause", oscar)
        assert refused.value.blockers[0].code == "rollback_pending"

        run_engine(release, timezone.now())
        posts = [r for r in received.received("POST") if b'"rollback"' in r["body"]]
        call.refresh_from_db()
        assert (call.state, len(posts)) == ("sent", 1)
        assert waves_of(release)[0].state == "verifying"
        assert not Notification.objects.filter(event="wave.rolled_back").exists()

        tool_report(call, "succeeded", "helm rollback 11")
        run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    assert (wave.state, wave.rollback_pending) == ("rolled_back", False)
    assert wave.state_reason == (
        "Rolled back (helm rollback 11): Rollback asked by oscar: Customers report wrong totals"
    )
    note = Notification.objects.get(event="wave.rolled_back", channel="email")
    assert note.recipient == "vera@example.test"
    assert note.payload["wave"]["state"] == "rolled_back"
    assert Release.objects.get(pk=release.pk).phase == "rollout"  # one wave, by an operator


def test_rollback_of_a_simulated_wave_is_done_at_once(rita, oscar, prod_eu):
    release = verifying(rita, [prod_eu])
    (wave,) = waves_of(release)
    rolled = operate(wave, "rollback", oscar, "Wrong totals")
    assert (rolled.state, rolled.rollback_pending) == ("rolled_back", False)


def test_a_wave_never_deployed_cannot_be_rolled_back(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu])
    refused_without_writing(
        lambda: operate(waves_of(release)[0], "rollback", oscar, "why"), Conflict
    )


# Manual deployer and manual checks


def test_manual_deploy_waits_for_the_operator_to_confirm(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu], deployer="manual")
    run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    assert (wave.state, wave.state_reason) == (
        "deploying",
        "Waiting for an operator to confirm 100% is deployed to prod-eu",
    )
    run_engine(release, timezone.now() + timedelta(days=1))
    assert waves_of(release)[0].state == "deploying"

    confirmed = operate(wave, "confirm", oscar, "Ansible run 4411 done")
    assert (confirmed.state, confirmed.state_reason) == (
        "verifying",
        "Confirmed by oscar: Ansible run 4411 done",
    )
    assert last_wave_event(wave).actor_id == oscar.pk
    events = AuditEvent.objects.count()
    assert operate(wave, "confirm", oscar).state == "verifying"
    assert AuditEvent.objects.count() == events


def test_only_a_manual_deploy_can_be_confirmed(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu], bake_minutes=30)
    refused_without_writing(lambda: operate(waves_of(release)[0], "confirm", oscar), Conflict)


def test_manual_check_needs_an_operators_verdict(client, rita, oscar, vera, prod_eu):
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)
    check = ro.check_add(wave_id=wave.pk, name="smoke test", kind="manual", actor=rita)
    run_engine(release, timezone.now())
    wave.refresh_from_db()
    assert (wave.state, wave.state_reason) == (
        "verifying",
        "Bake time over; waiting for manual check smoke test",
    )
    with pytest.raises(NotAllowed):
        check_confirm(check_id=check.pk, ok=True, actor=vera)
    # The verdict's shape is the API's to read ("yes" reads as true there, as DRF always did).
    client.force_login(oscar)
    for ok in ("maybe", None):
        api_refused(client, "post", f"/api/v1/checks/{check.pk}/confirm/", {"ok": ok}, "ok")

    assert (
        check_confirm(check_id=check.pk, ok=True, note="Invoice printed", actor=oscar) == "passed"
    )
    result = CheckResult.objects.get(wave_check=check)
    assert (result.ok, result.value, result.detail, result.recorded_by) == (
        True,
        "confirmed",
        "Invoice printed",
        oscar,
    )
    event = AuditEvent.objects.filter(verb="check.passed").latest("id")
    assert event.actor_id == oscar.pk
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "succeeded"


def test_automatic_checks_take_no_operators_verdict(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu], bake_minutes=30)
    (wave,) = waves_of(release)
    check = ro.check_add(
        wave_id=wave.pk, name="health", kind="http", actor=rita, config={"url": "http://a.test/"}
    )
    run_engine(release, timezone.now())
    refused_without_writing(
        lambda: check_confirm(check_id=check.pk, ok=True, actor=oscar), Conflict
    )


# Who may operate


@pytest.mark.parametrize(
    "action", ["start", "pause", "resume", "abort", "rollback", "skip", "confirm"]
)
@pytest.mark.parametrize("who", ["vera", "rita", "alice", "anonymous"])
def test_only_operators_operate_waves(request, rita, prod_eu, action, who):
    release = rolling_out(rita, [prod_eu], bake_minutes=30, deployer="manual")
    run_engine(release, timezone.now())
    actor = AnonymousUser() if who == "anonymous" else request.getfixturevalue(who)
    call = partial(operate, waves_of(release)[0], action, actor, "Because")
    refused_without_writing(call, NotAllowed)


def test_a_persons_rights_do_not_authenticate_a_deploy_report(rita, prod_eu):
    with tool() as (url, _):
        release = webhook_release(rita, url, [prod_eu])
        run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    call = DeployCall.objects.get(wave=wave)
    for credentials in (
        ReportCredentials(),
        ReportCredentials(token="0" * 64),
        ReportCredentials(body=b"{}", timestamp="1", signature="sha256=00"),
    ):
        refused_without_writing(
            lambda c=credentials: deploy_report(
                wave_id=wave.pk, status="succeeded", key=str(call.key), credentials=c
            ),
            NotAuthenticated,
        )


def test_waves_are_operated_only_during_rollout(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu])
    Release.objects.filter(pk=release.pk).update(phase="testing")
    refused_without_writing(lambda: operate(waves_of(release)[0], "start", oscar), Conflict)


def test_unknown_action_is_refused_naming_the_field(client, rita, oscar, prod_eu):
    """An action is a URL of its own, on the API and on the console: none other is found."""
    release = rolling_out(rita, [prod_eu])
    wave = waves_of(release)[0]
    client.force_login(oscar)
    api_refused(client, "post", f"/api/v1/waves/{wave.pk}/explode/", {}, "action", in_url=True)
    console = f"/releases/{release.pk}/console/waves/{wave.pk}/explode/"
    assert answered_without_writing(lambda: client.post(console, {})).status_code == 404


# Stop the line


def test_stop_the_line_halts_every_running_wave_and_lifting_resumes_them(
    rita, oscar, prod_eu, prod_us
):
    first = verifying(rita, [prod_eu])
    second = verifying(rita, [prod_us])
    paused_by_hand = verifying(rita, [EnvironmentFactory(name="prod-apac")])
    operate(waves_of(paused_by_hand)[0], "pause", oscar, "Looking at logs")
    with pytest.raises(ServiceError) as missing:
        stop_the_line_set(active=True, actor=oscar)
    assert missing.value.field == "reason"

    stop_the_line_set(active=True, reason="Payment provider down", actor=oscar)
    for release in (first, second):
        (wave,) = waves_of(release)
        assert (wave.state, wave.state_reason, wave.halted_by_stop_line) == (
            "halted",
            "Stop the line: Payment provider down",
            True,
        )
        assert last_wave_event(wave).actor_id == oscar.pk
    event = AuditEvent.objects.filter(verb__startswith="stop_the_line").latest("id")
    assert (event.verb, event.actor_id, event.reason) == (
        "stop_the_line.on",
        oscar.pk,
        "Payment provider down",
    )
    error = refused_without_writing(lambda: operate(waves_of(first)[0], "resume", oscar), Conflict)
    assert [b.code for b in error.blockers] == ["stop_the_line"]
    events = AuditEvent.objects.count()
    stop_the_line_set(active=True, reason="Payment provider down", actor=oscar)
    assert AuditEvent.objects.count() == events

    stop_the_line_set(active=False, actor=oscar)
    assert [waves_of(r)[0].state for r in (first, second)] == ["verifying", "verifying"]
    assert waves_of(paused_by_hand)[0].state == "halted"  # an operator's own pause stays


def test_no_deploy_request_goes_out_while_the_line_is_stopped(rita, oscar, prod_eu):
    with tool([503]) as (url, received):
        release = webhook_release(rita, url, [prod_eu])
        now = timezone.now()
        run_engine(release, now)  # the first attempt fails; a retry is due in 2 s
        stop_the_line_set(active=True, reason="Incident 512", actor=oscar)
        run_engine(release, now + timedelta(minutes=5))
        assert len(received.received("POST")) == 1

        stop_the_line_set(active=False, actor=oscar)
        run_engine(release, timezone.now() + timedelta(minutes=6))
        assert len(received.received("POST")) == 2
    (wave,) = waves_of(release)
    assert wave.state == "deploying"
    assert DeployCall.objects.filter(wave=wave, action="deploy").latest("pk").state == "sent"


def test_lifting_the_line_skips_waves_of_releases_that_ended_meanwhile(
    rita, oscar, prod_eu, prod_us
):
    ended = verifying(rita, [prod_eu])
    running = verifying(rita, [prod_us])
    stop_the_line_set(active=True, reason="Incident", actor=oscar)
    release_move(release_id=ended.pk, to="rolled_back", reason="Abandoned", actor=rita)

    stop_the_line_set(active=False, actor=oscar)
    assert waves_of(running)[0].state == "verifying"
    assert waves_of(ended)[0].state == "halted"


def test_only_release_managers_and_operators_stop_the_line(vera, charlie):
    for actor in (vera, charlie, AnonymousUser()):
        with pytest.raises(NotAllowed):
            stop_the_line_set(active=True, reason="x", actor=actor)


# Reports from the deploy tool


@pytest.fixture
def sent_deploy(rita, prod_eu):
    with tool() as (url, _):
        release = webhook_release(rita, url, [prod_eu], bake=30)
        run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    return wave, DeployCall.objects.get(wave=wave)


def report(call: DeployCall, status: str, **fields: Any) -> DeployCall:
    """Report through the call's report_url token (as `tool_report`), with fields to vary."""
    kwargs = {
        "wave_id": call.wave_id,
        "status": status,
        "key": str(call.key),
        "credentials": ReportCredentials(token=report_token(call)),
        **fields,
    }
    return deploy_report(**kwargs)


def test_deploy_report_succeeded_moves_the_wave_on(sent_deploy):
    wave, call = sent_deploy
    reported = report(call, "succeeded", message="helm rev 12")
    assert (reported.state, reported.report_message) == ("succeeded", "helm rev 12")
    event = AuditEvent.objects.filter(verb="deploy.reported_succeeded").latest("id")
    assert (event.actor_id, event.after["via"]) == (None, "token")
    run_engine(wave.plan.release, timezone.now())
    wave.refresh_from_db()
    assert (wave.state, wave.state_reason) == (
        "verifying",
        "Deploy tool reported success: helm rev 12",
    )


def test_a_report_signed_with_the_environments_secret_is_accepted(sent_deploy):
    wave, call = sent_deploy
    body = json.dumps({"status": "succeeded", "key": str(call.key)}).encode()
    headers = signing.signed_headers(body, "secret-of-prod-eu")
    credentials = ReportCredentials(
        body=body,
        timestamp=headers[signing.TIMESTAMP_HEADER],
        signature=headers[signing.SIGNATURE_HEADER],
    )
    assert report(call, "succeeded", credentials=credentials).state == "succeeded"
    stale = signing.signed_headers(body, "secret-of-prod-eu", timestamp=int(time.time()) - 301)
    too_old = ReportCredentials(
        body=body,
        timestamp=stale[signing.TIMESTAMP_HEADER],
        signature=stale[signing.SIGNATURE_HEADER],
    )
    with pytest.raises(NotAuthenticated):
        report(call, "succeeded", credentials=too_old)


def test_a_report_token_is_good_for_its_own_call_only(sent_deploy, rita, prod_us):
    wave, call = sent_deploy
    other = DeployCall.objects.create(
        wave=wave, action="rollback", round=1, key=uuid.uuid4(), state="sent"
    )
    borrowed = ReportCredentials(token=report_token(other))
    refused_without_writing(
        lambda: report(call, "succeeded", credentials=borrowed), NotAuthenticated
    )


def test_same_final_report_twice_is_a_no_op(sent_deploy):
    wave, call = sent_deploy
    report(call, "succeeded")
    events = AuditEvent.objects.count()
    again = report(call, "succeeded")
    assert (again.pk, again.state) == (call.pk, "succeeded")
    assert AuditEvent.objects.count() == events


def test_contradicting_final_report_is_recorded_and_refused(sent_deploy):
    wave, call = sent_deploy
    report(call, "succeeded")
    with pytest.raises(Conflict) as refused:
        report(call, "failed")
    assert refused.value.blockers[0].code == "report_not_current"
    call.refresh_from_db()
    assert call.state == "succeeded"
    event = AuditEvent.objects.latest("id")
    assert (event.verb, event.after["status"]) == ("deploy.report_refused", "failed")


def test_a_late_report_after_a_rollback_changes_nothing(sent_deploy, oscar):
    wave, call = sent_deploy
    operate(wave, "rollback", oscar, "Wrong build")
    with pytest.raises(Conflict) as refused:
        report(call, "succeeded")
    assert "rolled back" in refused.value.message
    call.refresh_from_db()
    wave.refresh_from_db()
    assert (call.state, wave.state, wave.rollback_pending) == ("sent", "deploying", True)
    event = AuditEvent.objects.filter(verb="deploy.report_refused").get()
    assert event.object_id == str(call.pk)


def test_progress_reports_keep_the_call_open(sent_deploy):
    wave, call = sent_deploy
    report(call, "in_progress", message="40% of pods")
    call.refresh_from_db()
    assert (call.state, call.report_message) == ("sent", "40% of pods")
    report(call, "failed", message="image pull error")
    run_engine(wave.plan.release, timezone.now())
    wave.refresh_from_db()
    assert (wave.state, wave.state_reason) == ("halted", "Deploy failed: image pull error")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": None}, "key"),
        ({"key": ""}, "key"),
        ({"status": "done"}, "status"),
        ({"action": "restart"}, "action"),
        ({"message": "x" * 2001}, "message"),
        ({"wave_id": "abc"}, "wave"),
    ],
)
def test_bad_reports_are_refused_naming_the_field(client, sent_deploy, changes, field):
    _, call = sent_deploy
    wave_id = changes.pop("wave_id", call.wave_id)
    payload = {"status": "succeeded", "key": str(call.key), **changes}
    url = f"/api/v1/waves/{wave_id}/report/?token={report_token(call)}"
    extra = {}
    if field == "key":  # no key, no call to hold a token for: sign it instead
        body = json.dumps(payload).encode()
        headers = signing.signed_headers(body, "secret-of-prod-eu")
        extra = {
            "HTTP_X_RELEASEDECK_TIMESTAMP": headers[signing.TIMESTAMP_HEADER],
            "HTTP_X_RELEASEDECK_SIGNATURE": headers[signing.SIGNATURE_HEADER],
        }
        url = f"/api/v1/waves/{wave_id}/report/"
    answer = answered_without_writing(
        lambda: client.post(url, json.dumps(payload), content_type="application/json", **extra)
    )
    error = answer.json()
    if field == "wave":  # the URL names the wave
        assert answer.status_code == 404
    else:
        assert (answer.status_code, error["field"]) == (400, field)


def test_report_with_an_unknown_key_is_not_found(sent_deploy):
    wave, call = sent_deploy
    body = b"{}"
    headers = signing.signed_headers(body, "secret-of-prod-eu")
    credentials = ReportCredentials(
        body=body,
        timestamp=headers[signing.TIMESTAMP_HEADER],
        signature=headers[signing.SIGNATURE_HEADER],
    )
    error = refused_without_writing(
        lambda: report(call, "succeeded", key=str(uuid.uuid4()), credentials=credentials),
        NotFound,
    )
    assert error.field == "key"


def test_a_release_manager_pulling_the_line_halts_running_waves_too(rita, oscar, prod_eu):
    running = verifying(rita, [prod_eu])
    stop_the_line_set(active=True, reason="Bad data in prod", actor=rita)
    (wave,) = waves_of(running)
    assert (wave.state, wave.state_reason) == ("halted", "Stop the line: Bad data in prod")
    assert AuditEvent.objects.filter(verb="wave.state_changed").latest("id").actor == rita
    stop_the_line_set(active=False, actor=rita)
    assert waves_of(running)[0].state == "verifying"
