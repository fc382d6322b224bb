"""The engine's network side: deploy calls to deploy tools and verification checks.

Each claims its row in a short transaction, talks to the network after commit, then records
the outcome under the release lock, so a crash between the two only repeats the claim.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.releases.models import Release
from apps.releases.services import record_change

from . import queue
from .calls import call_move
from .models import CallState, Check, CheckKind, CheckResult, DeployAction, DeployCall, WaveState

# --- deploy calls -----------------------------------------------------------------------------

REPORT_TOKEN_SALT = "releasedeck.rollouts.deploy_report"
# A check's next run is sent as a message held by the worker until it is due only when that
# is soon: the broker redelivers a message held unacknowledged past its visibility timeout
# (300 s). Later runs are sent by the tick when they come due within its next interval.
CHAIN_AT_MOST = timedelta(seconds=60)


def report_token(call: DeployCall) -> str:
    """The token in a call's `report_url`: it lets the tool report on this call only."""
    return salted_hmac(REPORT_TOKEN_SALT, str(call.key), algorithm="sha256").hexdigest()


def deploy_payload(call: DeployCall) -> dict[str, Any]:
    wave = call.wave
    release = wave.plan.release
    base = settings.RELEASEDECK_PUBLIC_URL.rstrip("/")
    return {
        "action": call.action,
        "key": str(call.key),
        "release": {
            "id": release.pk,
            "name": release.name,
            "version": release.version,
            "build_ref": release.build_ref,
            "application": release.application.slug,
        },
        "version": release.version,
        "wave": {"id": wave.pk, "name": wave.name, "position": wave.position},
        "environment": wave.environment.name,
        "percentage": wave.percentage,
        "report_url": f"{base}/api/v1/waves/{wave.pk}/report/?token={report_token(call)}",
    }


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2**attempts))


def deploy_call_send(*, call_id: int, now: datetime | None = None) -> str:
    """Claim the call's next attempt, POST it signed after commit, record what the tool
    answered. One attempt at a time: a call being sent is claimed again only once the
    attempt's time is up."""
    from apps.core import signing
    from apps.core.egress import post_json

    now = now or timezone.now()
    with transaction.atomic():
        call = (
            DeployCall.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("wave__environment", "wave__plan__release__application")
            .filter(pk=call_id)
            .first()
        )
        if call is None:
            return "busy"
        if call.state == CallState.SENDING:
            if call.attempt_started_at and call.attempt_started_at > queue.attempt_expired_before(
                now
            ):
                return "attempt open"
        elif call.state != CallState.PENDING:
            return "not pending"
        elif call.next_attempt_at is not None and call.next_attempt_at > now:
            return "not due"
        call_move(
            call,
            CallState.SENDING,
            attempts=call.attempts + 1,
            attempt_started_at=now,
            next_attempt_at=None,
        )
        payload = deploy_payload(call)
        url = call.wave.environment.deploy_url
        secret = call.wave.environment.deploy_secret
        attempts = call.attempts
        # A wave halted (stop the line, an operator), ended or being rolled back while its
        # deploy waited for a retry must not be deployed late; resuming it sends a fresh call.
        held = call.action == DeployAction.DEPLOY and (
            call.wave.state != WaveState.DEPLOYING or call.wave.rollback_requested_at is not None
        )
    if held:
        status, error = None, f"Not sent: the wave is {call.wave.state}"
    else:
        body = signing.canonical_body(payload)
        headers = signing.signed_headers(body, secret) | {"Idempotency-Key": str(call.key)}
        status, error = post_json(url, body, headers, timeout=settings.RELEASEDECK_HTTP_TIMEOUT)
    # The next attempt's backoff counts from when this one ended.
    return _record_attempt(
        call_id, attempts, status, error, held=held, ended=max(now, timezone.now())
    )


def _record_attempt(
    call_id: int, attempts: int, status: int | None, error: str, *, held: bool, ended: datetime
) -> str:
    with transaction.atomic():
        release_id = (
            DeployCall.objects.filter(pk=call_id)
            .values_list("wave__plan__release_id", flat=True)
            .get()
        )
        Release.objects.select_for_update().filter(pk=release_id).first()
        call = (
            DeployCall.objects.select_for_update(of=("self",))
            .select_related("wave")
            .get(pk=call_id)
        )
        if call.attempts != attempts:
            return "superseded"  # this attempt outlived its time and another took over
        ok = status is not None and 200 <= status < 300
        answer = {"response_status": status, "last_error": error}
        if call.state != CallState.SENDING:
            # The tool reported before its answer to the request came back.
            call.response_status, call.last_error = status, error
            call.save(update_fields=[*answer, "updated_at"])
            return "already settled"
        if ok:
            call_move(call, CallState.SENT, sent_at=ended, **answer)
        elif held or attempts >= settings.RELEASEDECK_DEPLOY_ATTEMPTS:
            call_move(call, CallState.FAILED, **answer)
        else:
            call_move(call, CallState.PENDING, next_attempt_at=ended + _backoff(attempts), **answer)
        record_change(
            release_id=release_id,
            actor=None,
            verb="deploy.sent" if ok else ("deploy.not_sent" if held else "deploy.send_failed"),
            obj=call,
            after={
                "action": call.action,
                "attempt": attempts,
                "status": status,
                "error": error,
                "state": call.state,
            },
            reason="" if ok else f"Attempt {attempts}: {error or f'HTTP {status}'}",
        )
        if call.state == CallState.FAILED:
            queue.step_soon(call.wave)
    return call.state


# --- checks -----------------------------------------------------------------------------------


def check_run(*, check_id: int, now: datetime | None = None) -> str:
    """Claim a due check, run it outside any transaction, record the result as evidence."""
    from . import checks

    now = now or timezone.now()
    with transaction.atomic():
        check = (
            Check.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("wave")
            .filter(pk=check_id)
            .first()
        )
        if (
            check is None
            or check.kind == CheckKind.MANUAL
            or check.wave.state != WaveState.VERIFYING
        ):
            return "not running"
        if check.next_run_at is None or check.next_run_at > now:
            return "not due"
        # Counted from when this run was due, so runs keep to their interval whatever the
        # tick's or the worker's delay.
        due = check.next_run_at
        if now - due > timedelta(seconds=check.interval_seconds):
            due = now
        check.next_run_at = due + timedelta(seconds=check.interval_seconds)
        check.last_run_at = now
        check.save(update_fields=["next_run_at", "last_run_at"])
        kind, config, next_run = check.kind, dict(check.config), check.next_run_at
    try:
        outcome = checks.run(
            kind, checks.validate_config(kind, config), timeout=settings.RELEASEDECK_HTTP_TIMEOUT
        )
    except Exception as exc:  # a broken check configuration is a failed check, not a crash
        outcome = checks.Outcome(False, "error", f"{type(exc).__name__}: {exc}")
    recorded = record_check_result(
        check_id=check_id, ok=outcome.ok, value=outcome.value, detail=outcome.detail, now=now
    )
    if recorded in ("passed", "failed") and next_run - now <= CHAIN_AT_MOST:
        # The next run is its own message, due at its time; the tick re-finds it if lost.
        queue.send_check(check_id, at=next_run)
    return recorded


def record_check_result(
    *,
    check_id: int,
    ok: bool,
    value: str,
    detail: str,
    actor: User | None = None,
    now: datetime | None = None,
) -> str:
    """Store one result; enough failures in a row wake the wave to apply its failure policy.
    `now` is when the check ran, so results line up with the bake they belong to."""
    now = now or timezone.now()
    release_id = (
        Check.objects.filter(pk=check_id).values_list("wave__plan__release_id", flat=True).first()
    )
    if release_id is None:
        return "gone"
    with transaction.atomic():
        Release.objects.select_for_update().filter(pk=release_id).first()
        check = (
            Check.objects.select_for_update(of=("self",)).select_related("wave").get(pk=check_id)
        )
        if check.wave.state != WaveState.VERIFYING:
            return "discarded"  # the wave moved on while the check ran
        CheckResult.objects.create(
            wave_check=check,
            wave=check.wave,
            at=now,
            ok=ok,
            value=value[:200],
            detail=detail,
            recorded_by=actor,
        )
        check.consecutive_failures = 0 if ok else check.consecutive_failures + 1
        check.save(update_fields=["consecutive_failures"])
        record_change(
            release_id=release_id,
            actor=actor,
            verb="check.passed" if ok else "check.failed",
            obj=check,
            after={
                "ok": ok,
                "value": value,
                "detail": detail,
                "consecutive_failures": check.consecutive_failures,
            },
        )
        if check.consecutive_failures >= check.failures_to_fail or check.kind == CheckKind.MANUAL:
            queue.step_soon(check.wave, now)
    return "passed" if ok else "failed"
