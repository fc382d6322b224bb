"""Dry runs of a rollout plan: when each wave could start, given windows, freezes and bakes.
Reads only."""

from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.core.errors import ServiceError
from apps.core.validation import clean_id, clean_int, clean_text
from apps.environments import calendars
from apps.environments import selectors as env_selectors
from apps.releases import rules as release_rules
from apps.releases.models import Release
from apps.releases.selectors import release_get

from .models import Wave
from .rules import WAITING_STATES
from .scheduling import PlannedWindow


def local_start(value: Any, time_zone: str, field: str) -> datetime | None:
    """A planned start typed in the environment's local time ('2026-12-01T09:00'), in UTC.
    A time that does not exist there (skipped when clocks go forward) is refused."""

    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(clean_text(value, field=field, max_length=40))
        except ValueError:
            raise ServiceError(
                f"{field} must be a local date and time like 2026-12-01T09:00.", field=field
            ) from None
    if not isinstance(value, datetime):
        raise ServiceError(f"{field} must be a local date and time.", field=field)
    if value.tzinfo is not None:
        raise ServiceError(
            f"{field} is local time in the environment's zone; give it without an offset.",
            field=field,
        )
    if not 1970 <= value.year <= 9998:
        raise ServiceError(f"{field} is out of range.", field=field)
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


def plan_dry_run(
    *, release_id: Any, actor: Any, now: datetime | None = None
) -> list[dict[str, Any]]:
    """For each wave of the plan, the earliest start windows, freezes and earlier bake times allow,
    with the reason when it is pushed later."""
    from datetime import timedelta

    from . import scheduling

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
            env_selectors.calendar_for(w.environment, now),
            w.planned_start,
            timedelta(minutes=w.bake_minutes),
        )
        for w in waves
    ]
    lines = scheduling.dry_run(planned, now, planned_window(release))
    return [
        {
            "wave": w.pk,
            "name": w.name,
            "environment": w.environment.name,
            "time_zone": w.environment.time_zone,
            "planned_start": w.planned_start,
            "earliest_start": line.earliest,
            "earliest_start_local": (
                calendars.utc_to_local(line.earliest, w.environment.time_zone).isoformat()
                if line.earliest
                else None
            ),
            "warnings": list(line.reasons),
        }
        for w, line in zip(waves, lines, strict=True)
    ]


def plan_dry_run_proposal(
    *, waves: Any, actor: Any, release_id: Any = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The dry run of waves not saved yet: [{name, environment, planned_start_local?, bake_minutes}],
    against the planned window of the release `release_id` when given."""
    from datetime import timedelta

    from apps.environments.models import Environment

    from . import scheduling

    require(actor, Action.VIEW)
    window = planned_window(release_get(release_id)) if release_id is not None else None
    if not isinstance(waves, list | tuple) or not waves:
        raise ServiceError("Give the waves to try, in order.", field="waves")
    if len(waves) > 100:
        raise ServiceError("At most 100 waves.", field="waves")
    now = now or timezone.now()
    rows = []
    for index, proposal in enumerate(waves):
        if not isinstance(proposal, dict):
            raise ServiceError("Each wave is an object.", field=f"waves.{index}")
        try:
            environment = Environment.objects.get(
                pk=clean_id(proposal.get("environment"), field=f"waves.{index}.environment")
            )
        except Environment.DoesNotExist:
            raise ServiceError("No such environment.", field=f"waves.{index}.environment") from None
        name = clean_text(
            proposal.get("name") or environment.name, field=f"waves.{index}.name", max_length=100
        )
        start = local_start(
            proposal.get("planned_start_local"),
            environment.time_zone,
            f"waves.{index}.planned_start_local",
        )
        bake = clean_int(
            proposal.get("bake_minutes", 30),
            field=f"waves.{index}.bake_minutes",
            minimum=0,
            maximum=60 * 24 * 14,
        )
        rows.append((name, environment, start, bake))
    planned = [
        scheduling.PlannedWave(
            name, env_selectors.calendar_for(env, now), start, timedelta(minutes=bake)
        )
        for name, env, start, bake in rows
    ]
    return [
        {
            "wave": None,
            "name": name,
            "environment": env.name,
            "time_zone": env.time_zone,
            "planned_start": start,
            "earliest_start": line.earliest,
            "earliest_start_local": (
                calendars.utc_to_local(line.earliest, env.time_zone).isoformat()
                if line.earliest
                else None
            ),
            "warnings": list(line.reasons),
        }
        for (name, env, start, _), line in zip(
            rows, scheduling.dry_run(planned, now, window), strict=True
        )
    ]


def window_notes(release: Release, waves: list[Wave], now: datetime | None = None) -> list[str]:
    """What the dry run says about the release's planned window (a wave outside it, a freeze
    inside it, a rollout begun ahead of it), for the release page; `waves` in order, with their
    environments. Two queries, whatever the plan's size."""
    from datetime import timedelta

    from . import scheduling, selectors

    if release.planned_start is None or release.phase not in (
        *release_rules.CONTENT_EDITABLE,
        release_rules.ROLLOUT,
    ):
        return []
    now = now or timezone.now()
    notes = []
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
        by_env = env_selectors.calendars_for({w.environment for w in waves}, now)
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
            if selectors.warning_kind(reason) == "plan"
        ]
    return list(dict.fromkeys(notes))


def _span(delta: Any) -> str:
    days, hours = delta.days, delta.seconds // 3600
    if days:
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}" if hours else "less than an hour"
