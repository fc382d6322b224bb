"""Reads for the wave scheduler and the rollout console, each in a fixed number of queries."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db.models import OuterRef, QuerySet, Subquery

from apps.environments import calendars
from apps.environments.models import Environment
from apps.releases import rules
from apps.releases.models import Release
from apps.signoffs.models import SignoffRequirement
from apps.signoffs.selectors import wave_asks, wave_facts
from apps.stakeholders.models import StakeholderRole

from . import scheduling
from .models import Check, CheckResult, Deployer, Wave, WaveState
from .rules import DONE_STATES, RUNNING_STATES, WAITING_STATES

# Rollouts go from the least to the most important tier; the model orders tiers by name.
TIER_ORDER = {"development": 0, "staging": 1, "production": 2}
# A wave can be edited while it waits to start (what `services.wave_update` allows).
EDITABLE_STATES = WAITING_STATES


def environments_in_rollout_order() -> list[Environment]:
    """Every environment, development first and production last."""
    return sorted(Environment.objects.all(), key=lambda e: (TIER_ORDER.get(e.tier, 9), e.name))


def plan_waves(release: Release) -> list[Wave]:
    return list(
        Wave.objects.filter(plan__release=release)
        .select_related("environment")
        .order_by("position")
    )


@dataclass(frozen=True)
class Proposal:
    """One wave as the scheduler shows it: saved, or as typed and not saved yet."""

    name: str
    environment: Environment
    planned_start: datetime | None
    bake_minutes: int


def dry_run(
    proposals: list[Proposal],
    by_env: dict[int, calendars.Calendar],
    now: datetime,
    window: scheduling.PlannedWindow | None = None,
) -> list[dict[str, Any]]:
    """The dry run of `proposals` in the shape `dryrun.plan_dry_run` returns."""
    planned = [
        scheduling.PlannedWave(
            p.name,
            by_env[p.environment.pk],
            p.planned_start,
            timedelta(minutes=p.bake_minutes),
        )
        for p in proposals
    ]
    return [
        {
            "name": p.name,
            "environment": p.environment.name,
            "time_zone": p.environment.time_zone,
            "planned_start": p.planned_start,
            "earliest_start": line.earliest,
            "warnings": list(line.reasons),
        }
        for p, line in zip(proposals, scheduling.dry_run(planned, now, window), strict=True)
    ]


def wave_requirements(release: Release) -> dict[int, list[SignoffRequirement]]:
    found: dict[int, list[SignoffRequirement]] = {}
    for requirement in (
        SignoffRequirement.objects.filter(release=release, wave__isnull=False)
        .select_related("role")
        .order_by("role__slug")
    ):
        found.setdefault(cast(int, requirement.wave_id), []).append(requirement)
    return found


def _latest(field: str) -> Subquery:
    return Subquery(
        CheckResult.objects.filter(wave_check=OuterRef("pk"))
        .order_by("-at", "-pk")
        .values(field)[:1]
    )


def checks_with_latest(waves: Iterable[Wave]) -> QuerySet[Check]:
    """Checks of the waves, each with its latest result's verdict, value, detail and time."""
    return (
        Check.objects.filter(wave__in=list(waves))
        .annotate(
            latest_ok=_latest("ok"),
            latest_value=_latest("value"),
            latest_detail=_latest("detail"),
            latest_at=_latest("at"),
        )
        .order_by("wave_id", "pk")
    )


def operator_actions(wave: Wave, *, current: bool) -> list[str]:
    """The operator buttons worth showing for a wave; the service still has the last word."""
    if wave.rollback_pending:
        return []  # nothing happens to it until the deploy tool has answered
    state = wave.state
    actions = []
    if current and state in WAITING_STATES:
        actions.append("start")
    if state == WaveState.DEPLOYING and wave.deployer == Deployer.MANUAL:
        actions.append("confirm")
    if state in RUNNING_STATES or state == WaveState.WAITING:
        actions.append("pause")
    if state == WaveState.HALTED:
        actions.append("resume")
    if state in WAITING_STATES or state == WaveState.HALTED:
        actions.append("skip")
    if state in RUNNING_STATES or state in (WaveState.WAITING, WaveState.HALTED):
        actions.append("abort")
    if wave.started_at is not None and state not in (WaveState.ROLLED_BACK, WaveState.SKIPPED):
        actions.append("rollback")
    return actions


def current_wave(waves: list[Wave]) -> Wave | None:
    """The first wave that has not succeeded or been skipped: the one the engine works on."""
    return next((w for w in waves if w.state not in DONE_STATES), None)


def waves_asking(user: Any, release: Release, *, now: datetime) -> list[dict[str, Any]]:
    """Waves of a release rolling out that wait for `user`'s own sign-off: not started, their
    requirement names a role `user` may sign as, and `user` has no verdict on them that counts."""
    if release.phase != rules.ROLLOUT:
        return []
    facts = wave_facts(release, now=now)
    asks = wave_asks(user, release, facts)
    wanted = [wave_id for wave_id, ask in asks.items() if ask.roles and not ask.decided]
    if not wanted:
        return []
    waves = (
        Wave.objects.filter(pk__in=wanted, state__in=WAITING_STATES)
        .select_related("environment")
        .order_by("position")
    )
    slugs = {role for wave_id in wanted for role in asks[wave_id].roles}
    names = dict(StakeholderRole.objects.filter(slug__in=slugs).values_list("slug", "name"))
    return [{"wave": wave, "roles": [names[r] for r in asks[wave.pk].roles]} for wave in waves]
