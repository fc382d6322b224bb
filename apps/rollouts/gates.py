"""What may start when: a wave's calendar, its own sign-off, stop the line, its planned time."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q

from apps.environments.models import DeploymentWindow, FreezeWindow, StopTheLine
from apps.releases.models import Release
from apps.releases.rules import signoff_tally

from . import scheduling
from .models import Wave


def calendar_for(environment: Any, now: datetime) -> scheduling.Calendar:
    """The environment's windows and the freezes that cover it (its own, its region's, global)."""
    windows = tuple(
        scheduling.Window(frozenset(w.weekdays), w.start_time, w.end_time)
        for w in DeploymentWindow.objects.filter(environment=environment)
    )
    scope = Q(scope="global") | Q(scope="environment", environment=environment)
    if environment.region:
        scope |= Q(scope="region", region=environment.region)
    freezes = tuple(
        scheduling.Freeze(f.start, f.end, f.reason)
        for f in FreezeWindow.objects.filter(scope, end__gt=now)
    )
    return scheduling.Calendar(environment.name, environment.time_zone, windows, freezes)


def wave_signoff_missing(wave: Wave, release: Release, now: datetime) -> list[str]:
    """What a wave's own sign-off requirement still lacks, as sentences; empty when met. The
    first time a wave waits on it, the stakeholders of the roles still missing are asked."""
    from apps.signoffs.selectors import wave_facts, wave_missing_sentences
    from apps.signoffs.services import wave_signoff_request

    facts = wave_facts(release, now=now, wave_ids=[wave.pk]).get(wave.pk)
    if facts is None:
        return []
    tally = signoff_tally(facts)
    if tally.missing:
        wave_signoff_request(release=release, wave=wave, roles=list(tally.missing), now=now)
    return wave_missing_sentences(wave.name, tally)


def start_blockers(
    wave: Wave, release: Release, now: datetime
) -> tuple[list[str], datetime | None]:
    """Why the wave cannot start now, and when to look again (None: when something changes).
    Called as the wave comes up (it is current and the release rolls out)."""
    stop = StopTheLine.objects.filter(pk=1, active=True).first()
    if stop is not None:
        return [
            f"Stop the line is on: {stop.reason or 'no reason given'}"
        ], now + settings.RELEASEDECK_RECHECK
    missing = wave_signoff_missing(wave, release, now)
    if missing:
        return missing, now + settings.RELEASEDECK_RECHECK
    not_before = max(now, wave.planned_start) if wave.planned_start else now
    slot = scheduling.earliest_start(not_before, calendar_for(wave.environment, now))
    if slot.at is None:
        return list(slot.reasons), now + timedelta(hours=1)
    if slot.at > now:
        reasons = list(slot.reasons) or [
            f"Planned for {scheduling.describe(slot.at, wave.environment.time_zone)}"
        ]
        return reasons, slot.at
    return [], None
