"""Reads of environments: their calendars, built in one place for the engine, the dry run and
the environments page alike."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from . import calendars
from .models import DeploymentWindow, Environment, FreezeScope, FreezeWindow


def covers(freeze: FreezeWindow, env: Environment) -> bool:
    """Whether the freeze applies to the environment: global, its region's, or its own."""
    if freeze.scope == FreezeScope.GLOBAL:
        return True
    if freeze.scope == FreezeScope.REGION:
        return bool(env.region) and freeze.region == env.region
    return freeze.environment_id == env.pk


def calendar_of(
    env: Environment, windows: Iterable[DeploymentWindow], freezes: Iterable[FreezeWindow]
) -> calendars.Calendar:
    """The environment's calendar from its windows and the freezes read for it (those that do
    not cover it are left out)."""
    return calendars.Calendar(
        env.name,
        env.time_zone,
        tuple(calendars.Window(frozenset(w.weekdays), w.start_time, w.end_time) for w in windows),
        tuple(calendars.Freeze(f.start, f.end, f.reason) for f in freezes if covers(f, env)),
    )


def for_application(application_id: int | None) -> Q:
    """Freezes that concern waves of the application `application_id`: those for every
    application and those for it. None: only those for every application."""
    every = Q(application_id__isnull=True)
    return every if application_id is None else every | Q(application_id=application_id)


def calendars_for(
    environments: Iterable[Environment], now: datetime, application_id: int | None = None
) -> dict[int, calendars.Calendar]:
    """Each environment's calendar (its windows, and the freezes not yet over that cover it,
    leaving out those for other applications than `application_id`), by environment id, in two
    queries however many there are."""
    envs = {e.pk: e for e in environments}
    if not envs:
        return {}
    windows: dict[int, list[DeploymentWindow]] = {pk: [] for pk in envs}
    for w in DeploymentWindow.objects.filter(environment_id__in=envs).order_by("pk"):
        windows[w.environment_id].append(w)
    regions = {e.region for e in envs.values() if e.region}
    scope = Q(scope=FreezeScope.GLOBAL) | Q(scope=FreezeScope.ENVIRONMENT, environment_id__in=envs)
    if regions:
        scope |= Q(scope=FreezeScope.REGION, region__in=regions)
    freezes = list(
        FreezeWindow.objects.filter(scope, for_application(application_id), end__gt=now).order_by(
            "start", "pk"
        )
    )
    return {pk: calendar_of(env, windows[pk], freezes) for pk, env in envs.items()}


def calendar_for(
    environment: Environment, now: datetime, application_id: int | None = None
) -> calendars.Calendar:
    return calendars_for([environment], now, application_id)[environment.pk]


def scope_q(freeze: FreezeWindow, path: str = "") -> Q:
    """The environments a freeze covers, as a filter on Environment, or on whatever reaches
    one through `path` (e.g. "environment" for waves)."""
    prefix = f"{path}__" if path else ""
    if freeze.scope == FreezeScope.GLOBAL:
        return Q()
    if freeze.scope == FreezeScope.REGION:
        return Q(**{f"{prefix}region": freeze.region}) & ~Q(**{f"{prefix}region": ""})
    return Q(**{f"{prefix}pk": freeze.environment_id})


def halting_freezes(now: datetime) -> list[FreezeWindow]:
    """Freezes in force that halt running waves too (incident freezes)."""
    return list(
        FreezeWindow.objects.filter(halts_running=True, start__lte=now, end__gt=now).order_by(
            "start", "pk"
        )
    )


def halting_freeze_for(
    env: Environment, now: datetime, application_id: int | None = None
) -> FreezeWindow | None:
    """The earliest freeze in force that halts running waves of the application
    `application_id` in `env`, if any (freezes of other applications are left out)."""
    return next(
        (
            f
            for f in halting_freezes(now)
            if covers(f, env) and f.application_id in (None, application_id)
        ),
        None,
    )


def environments_covered(freeze: FreezeWindow) -> list[Environment]:
    return list(Environment.objects.filter(scope_q(freeze)).order_by("name"))


def lift_quorum(freeze: FreezeWindow) -> int:
    """How many distinct people must approve lifting the freeze: the largest quorum of the
    environments it covers (1 when it covers none)."""
    return max((e.freeze_lift_quorum for e in environments_covered(freeze)), default=1)
