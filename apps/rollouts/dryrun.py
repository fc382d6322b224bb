"""Dry runs of a rollout plan: when each wave could start, given windows, freezes and bakes.
Reads only."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.core.errors import ServiceError
from apps.environments import calendars
from apps.environments import selectors as env_selectors
from apps.environments.models import Environment
from apps.releases import rules as release_rules
from apps.releases.models import Release
from apps.releases.selectors import release_get

from . import scheduling
from .models import Wave
from .rules import WAITING_STATES
from .scheduling import PlannedWindow


class DryRunLine(TypedDict):
    """One wave of a dry run: when it could start at the earliest, and why not earlier."""

    wave: int | None
    name: str
    environment: str
    time_zone: str
    planned_start: datetime | None
    earliest_start: datetime | None
    earliest_start_local: str | None
    warnings: list[calendars.Reason]  # sentences, each tagged with its kind


@dataclass(frozen=True)
class ProposedWave:
    """A wave not saved yet, for the dry run: no name is its environment's name, a planned
    start a naive wall-clock time in that environment."""

    environment_id: int
    name: str = ""
    planned_start_local: datetime | None = None
    bake_minutes: int = 30


def local_start(value: datetime | None, time_zone: str, field: str) -> datetime | None:
    """A planned start given as a naive wall-clock time in `time_zone`, in UTC. A time that does
    not exist there (skipped when clocks go forward) is refused, naming `field`."""
    if value is None:
        return None
    gap = calendars.nonexistent_local(value, time_zone)
    if gap is not None:
        raise ServiceError(f"{gap}. Choose a time outside that gap.", field=field)
    # A time that happens twice (clocks go back) means the first; the dry run says so.
    return calendars.local_to_utc(value, time_zone)


def planned_window(release: Release) -> PlannedWindow:
    """The release's planned window for a dry run; before rollout nothing starts ahead of it."""
    return PlannedWindow(
        start=release.planned_start,
        end=release.planned_end,
        rolling=release.phase not in release_rules.CONTENT_EDITABLE,
    )


def plan_dry_run(*, release_id: int, actor: User, now: datetime | None = None) -> list[DryRunLine]:
    """For each wave of the plan, the earliest start windows, freezes and earlier bake times allow,
    with the reason when it is pushed later."""
    release = release_get(release_id)
    require(actor, Action.VIEW, release)
    now = now or timezone.now()
    waves = list(
        Wave.objects.filter(plan__release=release)
        .select_related("environment")
        .order_by("position")
    )
    planned = [
        scheduling.PlannedWave(
            w.name,
            env_selectors.calendar_for(w.environment, now, release.application_id),
            w.planned_start,
            timedelta(minutes=w.bake_minutes),
        )
        for w in waves
    ]
    lines = scheduling.dry_run(planned, now, planned_window(release))
    return [
        _line(w.pk, w.name, w.environment, w.planned_start, line)
        for w, line in zip(waves, lines, strict=True)
    ]


def _line(
    wave_id: int | None,
    name: str,
    env: Environment,
    planned_start: datetime | None,
    line: scheduling.DryRunLine,
) -> DryRunLine:
    return DryRunLine(
        wave=wave_id,
        name=name,
        environment=env.name,
        time_zone=env.time_zone,
        planned_start=planned_start,
        earliest_start=line.earliest,
        earliest_start_local=(
            calendars.utc_to_local(line.earliest, env.time_zone).isoformat()
            if line.earliest
            else None
        ),
        warnings=list(line.reasons),
    )


def plan_dry_run_proposal(
    *,
    waves: Sequence[ProposedWave],
    actor: User,
    release_id: int | None = None,
    now: datetime | None = None,
) -> list[DryRunLine]:
    """The dry run of waves not saved yet, in order, against the planned window of the release
    `release_id` when given."""
    require(actor, Action.VIEW)
    release = release_get(release_id) if release_id is not None else None
    window = planned_window(release) if release is not None else None
    application_id = release.application_id if release is not None else None
    now = now or timezone.now()
    rows = []
    for index, proposal in enumerate(waves):
        try:
            environment = Environment.objects.get(pk=proposal.environment_id)
        except Environment.DoesNotExist:
            raise ServiceError("No such environment.", field=f"waves.{index}.environment") from None
        start = local_start(
            proposal.planned_start_local,
            environment.time_zone,
            f"waves.{index}.planned_start_local",
        )
        rows.append((proposal.name or environment.name, environment, start, proposal.bake_minutes))
    planned = [
        scheduling.PlannedWave(
            name,
            env_selectors.calendar_for(env, now, application_id),
            start,
            timedelta(minutes=bake),
        )
        for name, env, start, bake in rows
    ]
    return [
        _line(None, name, env, start, line)
        for (name, env, start, _), line in zip(
            rows, scheduling.dry_run(planned, now, window), strict=True
        )
    ]


def window_notes(release: Release, waves: list[Wave], now: datetime | None = None) -> list[str]:
    """What the dry run says about the release's planned window (a wave outside it, a freeze
    inside it, a rollout begun ahead of it), for the release page; `waves` in order, with their
    environments. Two queries, whatever the plan's size."""
    if release.planned_start is None or release.phase not in (
        *release_rules.CONTENT_EDITABLE,
        release_rules.ROLLOUT,
    ):
        return []
    now = now or timezone.now()
    notes: list[str] = []
    rolling = release.phase == release_rules.ROLLOUT
    if rolling and release.phase_entered_at < release.planned_start:
        ahead = release.planned_start - release.phase_entered_at
        notes.append(
            f"Rolling out since {calendars.describe(release.phase_entered_at, 'UTC')}, "
            f"{_span(ahead)} before its planned window opens "
            f"({calendars.describe(release.planned_start, 'UTC')})"
        )
    if rolling:  # what has started is history; the dry run speaks of what is still to come
        waves = [w for w in waves if w.state in WAITING_STATES]
    if waves:
        by_env = env_selectors.calendars_for(
            {w.environment for w in waves}, now, release.application_id
        )
        planned = [
            scheduling.PlannedWave(
                w.name,
                by_env[w.environment_id],
                w.planned_start,
                timedelta(minutes=w.bake_minutes),
            )
            for w in waves
        ]
        notes += [
            reason
            for line in scheduling.dry_run(planned, now, planned_window(release))
            for reason in line.reasons
            if reason.kind == "plan"
        ]
    return list(dict.fromkeys(notes))


def _span(delta: timedelta) -> str:
    days, hours = delta.days, delta.seconds // 3600
    if days:
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}" if hours else "less than an hour"
