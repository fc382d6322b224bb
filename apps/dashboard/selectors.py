"""Reads behind the dashboard; each in a fixed number of queries, however many releases exist."""

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts.permissions import APPROVER, teams_holding, visible_q
from apps.environments.models import Environment, FreezeWindow, StopTheLine, Tier
from apps.releases import rules
from apps.releases.models import Application, Release
from apps.rollouts.models import TERMINAL_WAVE_STATES, Wave, WaveState
from apps.signoffs.models import SignOff, SignoffRequirement
from apps.stakeholders.models import Stakeholder

from .calendar_events import application_names

UPCOMING_DAYS = 14
UPCOMING_LIMIT = 10
FREEZE_LIMIT = 8
TIER_ORDER: dict[str, int] = {Tier.DEVELOPMENT: 0, Tier.STAGING: 1, Tier.PRODUCTION: 2}
# Waves that have not started yet: what "upcoming" lists.
NOT_STARTED = (WaveState.PENDING, WaveState.SCHEDULED, WaveState.WAITING)
DONE_WAVE_STATES = frozenset({WaveState.SUCCEEDED, WaveState.SKIPPED})
# Release phases in which a succeeded wave means the version really runs there.
DEPLOYED_PHASES = (rules.ROLLOUT, rules.SUPPORT, rules.COMPLETED)
# Release phases not yet ended.
LIVE_PHASES = tuple(phase for phase in rules.ALLOWED_MOVES if phase not in rules.TERMINAL)


# ---- The live marker ----


def _marker_sql() -> str:
    qn = connection.ops.quote_name

    def table(model: Any) -> str:
        return qn(model._meta.db_table)

    # Maxima catch edits and additions, counts catch deletions. Only what the dashboard shows
    # counts: every change to a release bumps its updated_at, check results and deploy reports
    # too, but a release rolling out shows nothing of those (its content is frozen, its waves,
    # sign-offs and stakeholders have their own rows), so the dashboard looks at the other
    # releases' updated_at, every release's phase moves, and the rows it shows.
    # Releases and waves, the tables that grow with the years, are not counted: the product
    # never deletes a release, and deletes waves only when it replaces a plan's pending waves
    # with new ones, which moves the waves' maximum. A deletion through the admin shows at the
    # next minute, as the minute is part of the marker.
    parts = [
        f"(SELECT MAX({qn('updated_at')}) FROM {table(Release)}"
        f" WHERE {qn('phase')} <> '{rules.ROLLOUT}')",
        f"(SELECT MAX({qn('phase_entered_at')}) FROM {table(Release)})",
        f"(SELECT MAX({qn('updated_at')}) FROM {table(Wave)})",
        f"(SELECT MAX({qn('id')}) FROM {table(SignOff)})",
        f"(SELECT COUNT(*) FROM {table(SignOff)})",
        f"(SELECT MAX({qn('id')}) FROM {table(Stakeholder)})",
        f"(SELECT COUNT(*) FROM {table(Stakeholder)})",
        f"(SELECT MAX({qn('id')}) FROM {table(SignoffRequirement)})",
        f"(SELECT COUNT(*) FROM {table(SignoffRequirement)})",
        f"(SELECT {qn('changed_at')} FROM {table(StopTheLine)} WHERE {qn('id')} = 1)",
        f"(SELECT MAX({qn('updated_at')}) FROM {table(FreezeWindow)})",
        f"(SELECT COUNT(*) FROM {table(FreezeWindow)})",
        f"(SELECT MAX({qn('updated_at')}) FROM {table(Environment)})",
        f"(SELECT COUNT(*) FROM {table(Environment)})",
        f"(SELECT MAX({qn('updated_at')}) FROM {table(Application)})",
        f"(SELECT COUNT(*) FROM {table(Application)})",
    ]
    return "SELECT " + ", ".join(parts)


def change_marker(now: datetime | None = None) -> str:
    """A short value that changes whenever anything the dashboard shows may have changed.

    One query. The current minute is part of it, so ages and the 14-day horizon stay fresh
    on a page nobody touches.
    """
    with connection.cursor() as cursor:
        cursor.execute(_marker_sql())
        row = cursor.fetchone()
    minute = int((now or timezone.now()).timestamp() // 60)
    return hashlib.sha256(repr((row, minute)).encode()).hexdigest()[:20]


# ---- Dashboard ----


@dataclass
class Rollout:
    release: Release
    waves: list[Wave]
    lifecycle: int  # how far the release is along its phases (the status API's `progress`)
    done: int
    current: Wave | None
    halted: bool
    failed: bool
    reached: list[tuple[str, int]]  # (environment, share of traffic its succeeded waves reached)

    @property
    def total(self) -> int:
        return len(self.waves)

    @property
    def share_done(self) -> int:
        """The rollout's own progress: the share of its waves done, 0–100."""
        return round(100 * self.done / self.total) if self.waves else 0


def reached_shares(waves: list[Wave]) -> dict[int, int]:
    """Environment id → the largest share a succeeded wave of these reached there. Shadow
    waves mirror traffic and never reach users, so they do not count."""
    reached: dict[int, int] = {}
    for wave in waves:
        if wave.state == WaveState.SUCCEEDED and not wave.shadow:
            reached[wave.environment_id] = max(reached.get(wave.environment_id, 0), wave.percentage)
    return reached


@dataclass
class Cell:
    environment: Environment
    deployed: dict[str, Any] | None = None
    in_flight: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class MatrixRow:
    application: Application
    cells: list[Cell]


def environments_in_order() -> list[Environment]:
    envs = list(Environment.objects.order_by("name"))
    return sorted(envs, key=lambda e: (TIER_ORDER.get(e.tier, 9), e.name))


def _wave_fact(wave: Wave) -> rules.WaveFact:
    return rules.WaveFact(
        name=wave.name,
        environment=wave.environment.name,
        state=wave.state,
        skip_reason=wave.skip_reason,
        shadow=wave.shadow,
        rollback_pending=wave.rollback_requested_at is not None,
    )


def active_rollouts(user: Any) -> list[Rollout]:
    """Releases in rollout that `user` may see, with their waves, progress and current wave
    (one query)."""
    waves = (
        Wave.objects.filter(plan__release__phase=rules.ROLLOUT)
        .filter(visible_q(user, "application__team"))
        .select_related("environment", "plan__release__application")
        .order_by("plan__release__application__name", "plan__release__version", "position")
    )
    grouped: dict[int, list[Wave]] = defaultdict(list)
    for wave in waves:
        grouped[wave.plan.release_id].append(wave)
    rollouts = []
    for release_waves in grouped.values():
        release = release_waves[0].plan.release
        facts = tuple(_wave_fact(w) for w in release_waves)
        names = {w.environment_id: w.environment.name for w in release_waves}
        rollouts.append(
            Rollout(
                release=release,
                waves=release_waves,
                lifecycle=rules.progress(rules.ROLLOUT, facts),
                reached=[
                    (names[env], share) for env, share in reached_shares(release_waves).items()
                ],
                done=sum(1 for w in release_waves if w.state in DONE_WAVE_STATES),
                current=next(
                    (w for w in release_waves if w.state not in TERMINAL_WAVE_STATES), None
                ),
                halted=any(w.state == WaveState.HALTED for w in release_waves),
                failed=any(w.state == WaveState.FAILED for w in release_waves),
            )
        )
    return rollouts


def deployed_versions(
    applications: list[Application], environments: list[Environment]
) -> dict[tuple[int, int], dict[str, Any]]:
    """(application id, environment id) → the latest release whose wave there succeeded.

    A canary share still rolling out is in flight, not deployed; once the release has left
    rollout, its succeeded waves count whatever their share. Shadow waves never do.

    One newest-first subquery per cell walks the `wave_deployed_latest` index and stops at the
    first wave that counts, so the cost follows the grid's size, not the years of history.
    """
    if not applications or not environments:
        return {}

    def latest(environment: Environment) -> Subquery:
        return Subquery(
            Wave.objects.filter(
                application=OuterRef("pk"),
                environment=environment,
                state=WaveState.SUCCEEDED,
                shadow=False,
                finished_at__isnull=False,  # always so; lets the index give the order
                plan__release__phase__in=DEPLOYED_PHASES,
            )
            .filter(Q(percentage=100) | ~Q(plan__release__phase=rules.ROLLOUT))
            .order_by(F("finished_at").desc(), F("pk").desc())
            .values("pk")[:1]
        )

    cells = (
        Application.objects.filter(pk__in=[a.pk for a in applications])
        .annotate(**{f"env_{e.pk}": latest(e) for e in environments})
        .values_list(*(f"env_{e.pk}" for e in environments))
    )
    wave_ids = [wave_id for ids in cells for wave_id in ids if wave_id is not None]
    rows = Wave.objects.filter(pk__in=wave_ids).values(
        "environment_id",
        "finished_at",
        "percentage",
        app_id=F("application_id"),
        release_id=F("plan__release_id"),
        version=F("plan__release__version"),
        phase=F("plan__release__phase"),
    )
    return {(row["app_id"], row["environment_id"]): dict(row) for row in rows}


def matrix(
    applications: list[Application], environments: list[Environment], rollouts: list[Rollout]
) -> list[MatrixRow]:
    deployed = deployed_versions(applications, environments)
    flights: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for rollout in rollouts:
        by_env: dict[int, list[Wave]] = defaultdict(list)
        for wave in rollout.waves:
            by_env[wave.environment_id].append(wave)
        reached = reached_shares(rollout.waves)
        for env_id, waves in by_env.items():
            # The wave that matters on this environment now: the first not finished, else the last.
            wave = next((w for w in waves if w.state not in TERMINAL_WAVE_STATES), waves[-1])
            key = (rollout.release.application_id, env_id)
            if (
                wave.state == WaveState.SUCCEEDED
                and (deployed.get(key) or {}).get("release_id") == rollout.release.pk
            ):
                continue  # done there: the deployed version says it already
            flights[key].append(
                {
                    "release": rollout.release,
                    "wave": wave,
                    # A canary share that succeeded runs there for part of the traffic.
                    "reached": reached.get(env_id, 0),
                    "next": wave if wave.state != WaveState.SUCCEEDED else None,
                }
            )
    return [
        MatrixRow(
            application=app,
            cells=[
                Cell(
                    environment=env,
                    deployed=deployed.get((app.pk, env.pk)),
                    in_flight=flights.get((app.pk, env.pk), []),
                )
                for env in environments
            ],
        )
        for app in applications
    ]


def signoffs_waiting(user: Any, now: datetime) -> list[dict[str, Any]]:
    """Releases in testing `user` may sign off, and waves of releases rolling out whose own
    sign-off names a role `user` holds there (the rule of signoffs.eligibility.signoff_roles, for all
    releases at once), on which `user` has no current verdict; oldest first. Three queries."""
    teams = teams_holding(user, {APPROVER})
    if teams is not None and not teams:
        return []
    in_policy = SignoffRequirement.objects.filter(
        release=OuterRef("release"), wave__isnull=True, role=OuterRef("role")
    )
    held = (
        Stakeholder.objects.filter(user=user, release__phase__in=(rules.TESTING, rules.ROLLOUT))
        .exclude(release__owner=user)
        .exclude(release__created_by=user)  # separation of duties
        .annotate(in_policy=Exists(in_policy))
        .select_related("release__application", "role")
    )
    if teams is not None:  # approver in some teams only: their applications' releases
        held = held.filter(release__application__team__in=teams)
    releases: dict[int, Release] = {}
    roles: dict[int, list[Any]] = defaultdict(list)
    held_roles: dict[int, set[str]] = defaultdict(set)
    for row in held:
        releases[row.release_id] = row.release
        held_roles[row.release_id].add(row.role.slug)
        if row.in_policy and row.release.phase == rules.TESTING:
            roles[row.release_id].append(row.role)
    rolling = [pk for pk, release in releases.items() if release.phase == rules.ROLLOUT]
    # A wave's own sign-off: waves not started yet whose requirement names a role held here.
    waves: dict[int, tuple[Any, int, datetime | None, list[Any]]] = {}
    if rolling:
        for requirement in SignoffRequirement.objects.filter(
            release_id__in=rolling, wave__state__in=NOT_STARTED
        ).select_related("wave__environment", "role"):
            if requirement.role.slug not in held_roles[requirement.release_id]:
                continue
            entry = waves.setdefault(
                cast(int, requirement.wave_id),  # the filter's join: never null here
                (requirement.wave, requirement.release_id, requirement.requested_at, []),
            )
            entry[3].append(requirement.role)
    if not roles and not waves:
        return []
    verdicts = SignOff.objects.filter(
        Q(wave__isnull=True, release_id__in=list(roles)) | Q(wave_id__in=list(waves)),
        signer=user,
    ).values_list("release_id", "wave_id", "role__slug", "decision", "fingerprint", "created_at")
    decided: set[tuple[int, int | None]] = set()
    for release_id, wave_id, role, decision, fingerprint, created_at in verdicts:
        release = releases[release_id]
        fact = rules.SignoffFact(
            signer_id=user.pk,
            role=role,
            decision=decision,
            fingerprint=fingerprint,
            created_at=created_at,
            role_held=role in held_roles[release_id],
        )
        context = rules.ReleaseFacts(
            phase=release.phase,
            now=now,
            fingerprint=release.fingerprint,
            signoff_expiry_days=release.signoff_expiry_days,
        )
        if rules.is_current(fact, context):
            decided.add((release_id, wave_id))
    waiting = [
        {
            "release": releases[release_id],
            "wave": None,
            "roles": sorted(release_roles, key=lambda r: r.slug),
            "since": releases[release_id].phase_entered_at,
            "age": now - releases[release_id].phase_entered_at,
        }
        for release_id, release_roles in roles.items()
        if (release_id, None) not in decided
    ]
    for wave_id, (wave, release_id, requested_at, wave_roles) in waves.items():
        if (release_id, wave_id) in decided:
            continue
        since = requested_at or releases[release_id].phase_entered_at
        waiting.append(
            {
                "release": releases[release_id],
                "wave": wave,
                "roles": sorted(wave_roles, key=lambda r: r.slug),
                "since": since,
                "age": now - since,
            }
        )
    return sorted(waiting, key=lambda item: item["since"])


def _freeze_covers(freeze: FreezeWindow, wave: Wave) -> bool:
    if freeze.application_id not in (None, wave.plan.release.application_id):
        return False  # another application's freeze
    environment = wave.environment
    if freeze.scope == "global":
        return True
    if freeze.scope == "environment":
        return freeze.environment_id == environment.pk
    return bool(environment.region) and freeze.region == environment.region


@dataclass(frozen=True)
class UpcomingFreeze:
    freeze: FreezeWindow
    is_active: bool  # it has started
    application: str = ""  # the one application it covers; empty: every one


@dataclass(frozen=True)
class UpcomingWave:
    wave: Wave
    when: datetime  # its scheduled time, else its planned start
    local_when: datetime  # `when` in its environment's zone
    freeze: FreezeWindow | None  # the freeze it falls into


def upcoming_freezes(now: datetime) -> list[UpcomingFreeze]:
    horizon = now + timedelta(days=UPCOMING_DAYS)
    freezes = list(
        FreezeWindow.objects.filter(end__gt=now, start__lt=horizon)
        .select_related("environment")
        .order_by("start", "pk")
    )
    names = application_names(freezes)
    return [
        UpcomingFreeze(
            freeze=freeze,
            is_active=freeze.start <= now,
            application=names.get(freeze.application_id or 0, ""),
        )
        for freeze in freezes
    ]


def upcoming_waves(
    now: datetime, freezes: Sequence[UpcomingFreeze], user: Any
) -> tuple[list[UpcomingWave], bool]:
    """Waves `user` may see, not started yet, that are due in the next 14 days (and those
    waiting now), each with its time in its environment's zone and the freeze it falls into."""
    horizon = now + timedelta(days=UPCOMING_DAYS)
    waves = list(
        Wave.objects.annotate(when=Coalesce("scheduled_at", "planned_start"))
        .filter(state__in=NOT_STARTED, when__lt=horizon)
        .filter(Q(when__gte=now) | Q(state=WaveState.WAITING))
        .filter(plan__release__phase__in=LIVE_PHASES)  # a list the phase index can read
        .filter(visible_q(user, "application__team"))
        .select_related("environment", "plan__release__application")
        .order_by("when", "pk")[: UPCOMING_LIMIT + 1]
    )
    more = len(waves) > UPCOMING_LIMIT
    rows = []
    for wave in waves[:UPCOMING_LIMIT]:
        when: datetime = wave.when
        rows.append(
            UpcomingWave(
                wave=wave,
                when=when,
                local_when=when.astimezone(ZoneInfo(wave.environment.time_zone)),
                freeze=next(
                    (
                        f.freeze
                        for f in freezes
                        if f.freeze.start <= when < f.freeze.end and _freeze_covers(f.freeze, wave)
                    ),
                    None,
                ),
            )
        )
    return rows, more


def stop_the_line() -> StopTheLine | None:
    return StopTheLine.objects.select_related("changed_by").filter(pk=1).first()
