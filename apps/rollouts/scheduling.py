"""A rollout plan against the calendars of its environments: the dry run. Pure: no ORM, no I/O.
(An environment's calendar itself is `apps.environments.calendars`.)"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from apps.environments.calendars import (
    Calendar,
    Freeze,
    Reason,
    ambiguous_local,
    describe,
    earliest_start,
)


@dataclass(frozen=True)
class PlannedWave:
    name: str
    calendar: Calendar
    planned_start: datetime | None
    bake: timedelta


@dataclass(frozen=True)
class DryRunLine:
    name: str
    earliest: datetime | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class PlannedWindow:
    """The release's planned window, and whether its rollout has begun: before it has, the
    first wave cannot start before the window opens."""

    start: datetime | None = None
    end: datetime | None = None
    rolling: bool = True


def dry_run(
    waves: list[PlannedWave], now: datetime, window: PlannedWindow | None = None
) -> list[DryRunLine]:
    """For each wave in order, the earliest it could start given windows, freezes, the bake
    time of the wave before it and the release's planned window, with a sentence for each
    thing that pushed it later or that the plan should know (a start outside the planned
    window, a freeze inside it, a planned start in the hour that happens twice)."""
    window = window or PlannedWindow()
    lines = []
    previous_end: datetime | None = now
    if not window.rolling and window.start and window.start > now:
        previous_end = window.start  # nothing starts before the rollout does
    freezes_named: set[Freeze] = set()
    for index, wave in enumerate(waves):
        zone = wave.calendar.time_zone
        if previous_end is None:
            lines.append(
                DryRunLine(wave.name, None, (Reason("an earlier wave cannot start", "impossible"),))
            )
            continue
        not_before = max(previous_end, wave.planned_start or previous_end)
        slot = earliest_start(not_before, wave.calendar)
        reasons = slot.reasons
        if wave.planned_start and slot.at and slot.at > wave.planned_start:
            # Only worth saying when the plan asked for something earlier.
            reasons = reasons or (
                Reason(
                    f"{wave.name}: starts after the previous wave has baked, {describe(slot.at, zone)}"
                    if index
                    else f"{wave.name}: starts {describe(slot.at, zone)}, later than planned",
                    "sequence",
                ),
            )
        notes: list[Reason] = []
        if wave.planned_start:
            twice = ambiguous_local(wave.planned_start, zone)
            if twice:
                notes.append(Reason(f"{wave.name}: the planned start {twice}", "clock"))
        early = bool(slot.at and window.start and slot.at < window.start)
        if wave.planned_start and window.start and wave.planned_start < window.start and not early:
            notes.append(
                Reason(
                    f"{wave.name}: planned for {describe(wave.planned_start, zone)}, before the "
                    f"release's planned window opens ({describe(window.start, zone)})",
                    "plan",
                )
            )
        if slot.at and early and window.start:
            notes.append(
                Reason(
                    f"{wave.name}: starts {describe(slot.at, zone)}, before the release's planned "
                    f"window opens ({describe(window.start, zone)})",
                    "plan",
                )
            )
        if slot.at and window.end and slot.at >= window.end:
            notes.append(
                Reason(
                    f"{wave.name}: starts {describe(slot.at, zone)}, after the release's planned "
                    f"window closes ({describe(window.end, zone)})",
                    "plan",
                )
            )
        if window.start and window.end:
            for freeze in wave.calendar.freezes:
                if freeze in freezes_named or not (
                    freeze.start < window.end and freeze.end > window.start
                ):
                    continue
                if slot.at and not_before < freeze.end <= slot.at:
                    continue  # it pushed this wave later: its reasons name it already
                freezes_named.add(freeze)
                notes.append(
                    Reason(
                        f"{wave.calendar.name}: freeze {describe(freeze.start, zone)} – "
                        f"{describe(freeze.end, zone)} ({freeze.reason}) overlaps the release's "
                        "planned window",
                        "plan",
                    )
                )
        lines.append(DryRunLine(wave.name, slot.at, (*reasons, *notes)))
        previous_end = slot.at + wave.bake if slot.at else None
    return lines
