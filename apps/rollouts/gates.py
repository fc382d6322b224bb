"""What may start when: a wave's calendar, its own sign-off, stop the line, its planned time;
and what must stop: a running wave under an incident freeze."""

from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.audit.services import AuditBatch
from apps.core.errors import Blocker
from apps.environments import calendars
from apps.environments import selectors as env_selectors
from apps.environments.models import FreezeScope, FreezeWindow, StopTheLine
from apps.notifications.outbox import Sends
from apps.releases import rules as release_rules
from apps.releases.models import Release
from apps.releases.rules import signoff_tally
from apps.signoffs.selectors import wave_facts, wave_missing_sentences
from apps.signoffs.services import wave_signoff_request

from .models import Wave, WaveState
from .rules import RUNNING_STATES

# Blocker codes of a wave that may not start yet. Only `planned_later` leaves it scheduled;
# any other keeps it waiting.
STOP_THE_LINE = "stop_the_line"
SIGNOFF_MISSING = "wave_signoff_missing"
FROZEN_OR_CLOSED = "calendar_closed"
NO_SLOT = "no_deployment_slot"
PLANNED_LATER = "planned_later"


def wave_signoff_missing(
    wave: Wave,
    release: Release,
    now: datetime,
    *,
    batch: AuditBatch | None = None,
    sends: Sends | None = None,
) -> list[str]:
    """What a wave's own sign-off requirement still lacks, as sentences; empty when met. The
    first time a wave waits on it, the stakeholders of the roles still missing are asked."""
    facts = wave_facts(release, now=now, wave_ids=[wave.pk]).get(wave.pk)
    if facts is None:
        return []
    tally = signoff_tally(facts)
    if tally.missing:
        wave_signoff_request(
            release=release,
            wave=wave,
            roles=list(tally.missing),
            now=now,
            wave_state=WaveState.WAITING,
            batch=batch,
            sends=sends,
        )
    return wave_missing_sentences(wave.name, tally)


def start_blockers(
    wave: Wave,
    release: Release,
    now: datetime,
    *,
    keep_planned_start: bool = True,
    batch: AuditBatch | None = None,
    sends: Sends | None = None,
) -> tuple[list[Blocker], datetime | None]:
    """Why the wave cannot start now, and when to look again (None: when something changes).
    Called as the wave comes up (it is current and the release rolls out). Without
    `keep_planned_start` (an operator's "start now"), only the wave's planned time is waived.
    `batch` and `sends` are the engine run's, for the sign-off request this may make."""
    stop = StopTheLine.objects.filter(pk=1, active=True).first()
    if stop is not None:
        message = f"Stop the line is on: {stop.reason or 'no reason given'}"
        return [Blocker(STOP_THE_LINE, message)], now + settings.RELEASEDECK_RECHECK
    missing = wave_signoff_missing(wave, release, now, batch=batch, sends=sends)
    if missing:
        return [Blocker(SIGNOFF_MISSING, m) for m in missing], now + settings.RELEASEDECK_RECHECK
    planned = wave.planned_start if keep_planned_start else None
    not_before = max(now, planned) if planned else now
    slot = calendars.earliest_start(
        not_before, env_selectors.calendar_for(wave.environment, now, release.application_id)
    )
    if slot.at is None:
        return [Blocker(NO_SLOT, r) for r in slot.reasons], now + timedelta(hours=1)
    if slot.at > now:
        if slot.reasons:
            return [Blocker(FROZEN_OR_CLOSED, r) for r in slot.reasons], slot.at
        when = calendars.describe(slot.at, wave.environment.time_zone)
        return [Blocker(PLANNED_LATER, f"Planned for {when}")], slot.at
    return [], None


def halt_reason(wave: Wave, now: datetime) -> str | None:
    """Why a running wave must halt at this step: a freeze in force that halts running waves
    (an incident's) covers its environment, and its application if it names one. None: it
    carries on."""
    application_id = wave.plan.release.application_id
    freeze = env_selectors.halting_freeze_for(wave.environment, now, application_id)
    if freeze is None:
        return None
    return f"Frozen: {freeze.reason}"


def frozen_running(now: datetime) -> "QuerySet[Wave]":
    """Running waves of rolling-out releases that a halting freeze in force covers: their next
    step halts them. A wave being rolled back is left to finish that."""
    freezes = env_selectors.halting_freezes(now)
    if not freezes:
        return Wave.objects.none()
    # An empty Q (a global freeze of every application) would vanish from an OR: every wave.
    if any(f.scope == FreezeScope.GLOBAL and f.application_id is None for f in freezes):
        scope = Q()
    else:
        scope = reduce(or_, (_covered(f) for f in freezes))
    return Wave.objects.filter(
        scope,
        state__in=RUNNING_STATES,
        plan__release__phase=release_rules.ROLLOUT,
        rollback_requested_at__isnull=True,
    )


def _covered(freeze: FreezeWindow) -> Q:
    """The waves a freeze covers, as a filter on Wave: its environments, of its application."""
    where = env_selectors.scope_q(freeze, "environment")
    if freeze.application_id is None:
        return where
    return where & Q(plan__release__application_id=freeze.application_id)
