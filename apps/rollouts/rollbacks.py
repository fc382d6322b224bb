"""Rolling back: a wave reads `rolled_back` only once its deployer has undone it.

A webhook wave keeps its state with a rollback pending (`rollback_requested_at`) while its
rollback call is out; the deploy tool's report (or the deploy timeout) settles it. Confirmed,
the wave is rolled back; failed, it halts with the tool's reason for an operator. A whole
release being rolled back ends `rolled_back` once every wave's rollback is confirmed, and
stays in rollout, for an operator to decide, when one of them failed.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Max

from apps.audit.models import AuditEvent
from apps.notifications.outbox import notify
from apps.releases import rules as release_rules
from apps.releases.models import Release
from apps.releases.services import record_change, release_move

from . import calls, queue
from .models import CallState, Check, DeployAction, DeployCall, Deployer, Wave, WaveState
from .transitions import wave_move
from .writes import Writes


def auto_rollbacks_recent(release_id: int, now: datetime) -> int:
    """Automatic rollbacks of this release in the hour before `now` (what the cap counts)."""
    return AuditEvent.objects.filter(
        verb="rollout.auto_rollback", release_id=release_id, at__gte=now - timedelta(hours=1)
    ).count()


def auto_rollback_capped(release_id: int, now: datetime) -> int | None:
    """How many automatic rollbacks this release had in the last hour, when that reached the
    cap (RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR); None while it may roll back again."""
    recent = auto_rollbacks_recent(release_id, now)
    return recent if recent >= settings.RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR else None


def _rollback_pending(wave: Wave, since: datetime | None) -> None:
    """The one writer of `rollback_requested_at`: since when the wave's rollback waits for its
    deploy tool (None: it no longer does)."""
    wave.rollback_requested_at = since
    wave.save(update_fields=["rollback_requested_at", "updated_at"])


def request_wave_rollback(
    wave: Wave,
    release: Release,
    now: datetime,
    *,
    reason: str,
    actor: User | None = None,
    writes: Writes | None = None,
) -> bool:
    """Ask the wave's deployer to undo it, inside the caller's transaction, which holds
    `release` and `wave` locked. A webhook wave gets a rollback call and keeps its state with
    the rollback pending; the others are rolled back at once. Returns whether the rollback is
    pending."""
    batch = writes.batch if writes is not None else None
    if wave.state == WaveState.ROLLED_BACK:
        return False
    if wave.rollback_requested_at is not None:
        return True
    if wave.deployer != Deployer.WEBHOOK or wave.started_at is None:
        wave_move(
            release, wave, WaveState.ROLLED_BACK, actor=actor, reason=reason, now=now, batch=batch
        )
        return False
    last = DeployCall.objects.filter(wave=wave, action=DeployAction.ROLLBACK).aggregate(
        m=Max("round")
    )["m"]
    call = calls.call_open(
        wave,
        DeployAction.ROLLBACK,
        (last or 0) + 1,
        now=now,
        deadline=now + settings.RELEASEDECK_DEPLOY_TIMEOUT,
        reason=reason,
    )
    wave_move(
        release,
        wave,
        wave.state,
        actor=actor,
        reason=f"Rolling back: {reason}",
        now=now,
        batch=batch,
    )
    _rollback_pending(wave, now)
    queue.set_due(wave, call.deadline_at)
    # Its checks stop: their verdict no longer decides anything.
    Check.objects.filter(wave=wave).update(next_run_at=None)
    return True


def roll_back_release(
    release: Release,
    now: datetime,
    *,
    reason: str,
    automatic: bool,
    writes: Writes | None = None,
) -> None:
    """Undo every wave already deployed, newest first; the release ends rolled back once the
    deployers have confirmed (at once when no rollback waits for a deploy tool). The caller
    holds the release locked."""
    writes = writes or Writes()
    deployed = (
        Wave.objects.select_for_update(of=("self",))
        .filter(plan__release=release, started_at__isnull=False)
        .exclude(state__in=[WaveState.ROLLED_BACK, WaveState.SKIPPED])
        .select_related("environment", "plan")
        .order_by("-position")
    )
    names, pending = [], []
    plan = None
    for wave in deployed:
        plan = wave.plan
        if request_wave_rollback(wave, release, now, reason=reason, writes=writes):
            pending.append(wave.name)
        else:
            names.append(wave.name)
    record_change(
        release_id=release.pk,
        actor=None,
        verb="rollout.auto_rollback" if automatic else "rollout.rollback",
        obj=release,
        after={"waves_rolled_back": names, "waves_rolling_back": pending},
        reason=reason,
        batch=writes.batch,
    )
    if pending and plan is not None:
        plan.rollback_requested_at = now
        plan.rollback_reason = reason[:2000]
        plan.save(update_fields=["rollback_requested_at", "rollback_reason", "updated_at"])
        return
    _release_rolled_back(release, reason, writes)


def _release_rolled_back(release: Release, reason: str, writes: Writes) -> None:
    release_move(
        release_id=release.pk,
        to=release_rules.ROLLED_BACK,
        actor=None,
        reason=reason[:2000],
        batch=writes.batch,
    )
    # `release` was read before the move: the notification reads the phase it has now.
    notify(
        release=release,
        event="release.rolled_back",
        text=reason,
        sends=writes.sends,
        recipients=writes.recipients,
    )


def rollback_step(
    wave: Wave, release: Release, now: datetime, writes: Writes
) -> tuple[str, datetime | None]:
    """A wave with a rollback pending: settle it once the deploy tool has answered, or the
    deploy timeout has passed. Returns what it did and when the wave is next due."""
    call = (
        DeployCall.objects.filter(wave=wave, action=DeployAction.ROLLBACK)
        .order_by("-round")
        .first()
    )
    deadline = call.deadline_at if call is not None else None
    if call is not None and call.state == CallState.SUCCEEDED:
        said = f" ({call.report_message})" if call.report_message else ""
        reason = f"Rolled back{said}: {call.reason}".rstrip(": ")
        _rollback_pending(wave, None)
        wave_move(
            release,
            wave,
            WaveState.ROLLED_BACK,
            actor=None,
            reason=reason,
            now=now,
            batch=writes.batch,
        )
        writes.notify(release, "wave.rolled_back", wave=wave, text=wave.state_reason)
        _finish_release_rollback(release, wave, writes)
        return "rolled back", None
    if call is None or call.state == CallState.FAILED or (deadline and now >= deadline):
        if call is None:
            why = "no rollback call was recorded"
        elif call.state == CallState.FAILED:
            why = call.report_message or call.last_error or "the deploy tool reported failure"
        else:
            why = "the deploy tool did not report within the deploy timeout"
        reason = f"Rollback failed: {why}. An operator decides: roll back again, or abort"
        _rollback_pending(wave, None)
        wave_move(
            release, wave, WaveState.HALTED, actor=None, reason=reason, now=now, batch=writes.batch
        )
        writes.notify(release, "wave.halted", wave=wave, text=reason)
        return "rollback failed", None
    return "rolling back", deadline


def _finish_release_rollback(release: Release, wave: Wave, writes: Writes) -> None:
    """The release being rolled back ends so once no wave's rollback is pending or failed."""
    plan = wave.plan
    if plan.rollback_requested_at is None:
        return
    waves = Wave.objects.filter(plan=plan)
    if waves.filter(rollback_requested_at__isnull=False).exists():
        return
    if waves.filter(state=WaveState.HALTED, started_at__isnull=False).exists():
        return  # a rollback failed: an operator decides
    _release_rolled_back(release, plan.rollback_reason, writes)
