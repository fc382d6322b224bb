"""The dry run as the scheduler shows it: each wave's verdict, the warnings and the timeline."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, get_args

from django.utils import timezone

from apps.environments import calendars
from apps.environments import selectors as env_selectors

from .. import scheduling, timeline
from ..models import Wave


def _local_text(at: datetime | None, time_zone: str) -> str:
    """`Tue 1 Dec, 09:00 CET`: a moment in an environment's own zone."""
    if at is None:
        return ""
    local = calendars.utc_to_local(at, time_zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M} {local.tzname()}"


def _follows(index: int, at_window: bool) -> str:
    """What a wave without a planned start waits for, when nothing else holds it."""
    if index:
        return "Starts after the previous wave"
    return "Starts when the planned window opens" if at_window else "Starts when the rollout starts"


def _all_clear(lines: Sequence[Mapping[str, Any]], at_window: bool) -> str:
    """The dry run's sentence when nothing conflicts, true to what the plan says."""
    planned = sum(1 for line in lines if line["planned_start"])
    if planned == len(lines):
        return "Every wave can start at its planned time."
    first = "when the planned window opens" if at_window else "when the rollout starts"
    if not planned:
        return (
            "No conflicts. No wave has a planned start: the first starts "
            f"{first}, each other one once the wave before it has baked."
        )
    return (
        "No conflicts. Waves with a planned start can start then; the others start once the "
        f"wave before them has baked (the first {first})."
    )


def dry_run_context(
    waves: list[Wave],
    lines: Sequence[Mapping[str, Any]],
    bakes: list[int],
    *,
    by_env: dict[int, calendars.Calendar] | None = None,
    now: datetime | None = None,
    window: scheduling.PlannedWindow | None = None,
) -> dict[str, Any]:
    """Warnings, per-wave flags and the timeline for one dry run."""
    now = now or timezone.now()
    window = window or scheduling.PlannedWindow()
    # Before rollout the first wave without a planned start waits for the planned window.
    at_window = bool(not window.rolling and window.start and window.start > now)
    if by_env is None:
        by_env = env_selectors.calendars_for({w.environment for w in waves}, now)
    verdicts = []
    lanes = []
    for index, (wave, line, bake) in enumerate(zip(waves, lines, bakes, strict=True)):
        earliest = line["earliest_start"]
        found = {reason.kind for reason in line["warnings"]}
        kinds = [k for k in get_args(calendars.ReasonKind) if k in found]  # gravest first
        verdicts.append(
            {
                "wave": wave,
                "earliest": earliest,
                "earliest_text": _local_text(earliest, wave.environment.time_zone),
                "planned": line["planned_start"],
                "warnings": [{"text": str(r), "kind": r.kind} for r in line["warnings"]],
                "kinds": kinds,
                "late": bool(
                    earliest and line["planned_start"] and earliest > line["planned_start"]
                ),
                "follows": _follows(index, at_window),
            }
        )
        lanes.append(
            timeline.Lane(
                label=wave.name,
                calendar=by_env[wave.environment_id],
                planned_start=line["planned_start"],
                earliest_start=earliest,
                bake=timedelta(minutes=bake),
                warnings=tuple(line["warnings"]),
            )
        )
    viewer_zone = timezone.get_current_timezone_name()
    start, end = timeline.time_range(lanes, now, viewer_zone)
    svg = timeline.render(
        lanes,
        start=start,
        end=end,
        now=now,
        time_zone=viewer_zone,
        title="Rollout plan against deployment windows and freezes",
        id_prefix="plan-timeline",
    )
    warnings = list({w["text"]: w for v in verdicts for w in v["warnings"]}.values())
    return {
        "verdicts": verdicts,
        "warnings": warnings,
        "all_clear": _all_clear(lines, at_window),
        "freeze_warnings": sum(1 for w in warnings if w["kind"] == "freeze"),
        "timeline_svg": svg,
        "timeline_zone": viewer_zone,
    }
