"""Rollout plans and waves: every write to a plan before it rolls out. (A wave's state is
`transitions`.)"""

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict, Unpack

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from apps.accounts.permissions import Action, require
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.environments.models import Environment
from apps.releases import rules as release_rules
from apps.releases.services import get_release, record_change
from apps.signoffs.models import SignoffRequirement
from apps.stakeholders.models import StakeholderRole

from . import queue
from .dryrun import local_start
from .models import (
    Check,
    Deployer,
    FailurePolicy,
    RolloutPlan,
    Wave,
    WaveState,
)
from .rules import WAITING_STATES

PLANNABLE = frozenset({release_rules.PLANNING, release_rules.PREPARATION, release_rules.TESTING})


def plan_set(*, release_id: int, strategy: str, actor: User) -> RolloutPlan:
    """Create the release's rollout plan or change its strategy (a `Strategy`)."""
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.PLAN_ROLLOUT, release)
        if release.phase not in PLANNABLE:
            raise Conflict("The rollout plan is fixed once the release is rolling out.")
        plan, created = RolloutPlan.objects.get_or_create(
            release=release, defaults={"strategy": strategy}
        )
        if not created and plan.strategy == strategy:
            return plan
        before = None if created else {"strategy": plan.strategy}
        plan.strategy = strategy
        plan.save(update_fields=["strategy", "updated_at"])
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="plan.set",
            obj=plan,
            before=before,
            after={"strategy": strategy},
        )
    return plan


def wave_add(
    *,
    release_id: int,
    name: str,
    environment_id: int,
    actor: User,
    percentage: int = 100,
    planned_start: datetime | None = None,
    planned_start_local: datetime | None = None,
    bake_minutes: int = 30,
    failure_policy: str = FailurePolicy.HALT,
    deployer: str = Deployer.SIMULATED,
    shadow: bool = False,
) -> Wave:
    """Append a wave to the release's plan. Its planned start is a moment (`planned_start`) or
    a wall-clock time in the environment's zone (`planned_start_local`, naive)."""
    environment = _environment(environment_id)
    if planned_start_local is not None:
        planned_start = local_start(
            planned_start_local, environment.time_zone, "planned_start_local"
        )
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.PLAN_ROLLOUT, release)
        if release.phase not in PLANNABLE:
            raise Conflict("Waves are fixed once the release is rolling out.")
        plan = RolloutPlan.objects.filter(release=release).first()
        if plan is None:
            raise Conflict("Choose a rollout strategy before adding waves.")
        position = (plan.waves.aggregate(m=Max("position"))["m"] or 0) + 1
        wave = Wave.objects.create(
            plan=plan,
            position=position,
            name=name,
            environment=environment,
            percentage=percentage,
            planned_start=planned_start,
            bake_minutes=bake_minutes,
            failure_policy=failure_policy,
            deployer=deployer,
            shadow=shadow,
        )
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="wave.added",
            obj=wave,
            after={"name": name, "environment": environment.name, "percentage": percentage},
        )
    return wave


def _environment(environment_id: int) -> Environment:
    try:
        return Environment.objects.get(pk=environment_id)
    except Environment.DoesNotExist:
        raise ServiceError("No such environment.", field="environment") from None


def _release_id_of(wave_id: int) -> int:
    """The id of the wave's release, which writers lock first; NotFound without the wave."""
    release_id = Wave.objects.filter(pk=wave_id).values_list("plan__release_id", flat=True).first()
    if release_id is None:
        raise NotFound("No such wave.", field="wave")
    return release_id


class WaveChanges(TypedDict, total=False):
    """What `wave_update` may change; a planned start is a moment or a naive wall-clock time
    in the wave's environment (None clears it)."""

    name: str
    environment_id: int
    percentage: int
    planned_start: datetime | None
    planned_start_local: datetime | None
    bake_minutes: int
    failure_policy: str
    deployer: str
    shadow: bool


def wave_update(*, wave_id: int, actor: User, **changes: Unpack[WaveChanges]) -> Wave:
    """Edit a wave that has not started. A local planned start is read in the zone of the
    wave's environment, the new one when that changes too."""
    release_id = _release_id_of(wave_id)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.PLAN_ROLLOUT, release)
        wave = (
            Wave.objects.select_for_update(of=("self",))
            .select_related("environment")
            .get(pk=wave_id)
        )
        if wave.state not in WAITING_STATES:
            raise Conflict(f"A {wave.state} wave can no longer be edited.")
        before = {
            "name": wave.name,
            "environment": wave.environment.name,
            "percentage": wave.percentage,
            "planned_start": wave.planned_start.isoformat() if wave.planned_start else None,
            "bake_minutes": wave.bake_minutes,
            "failure_policy": wave.failure_policy,
            "deployer": wave.deployer,
            "shadow": wave.shadow,
        }
        if "name" in changes:
            wave.name = changes["name"]
        if "environment_id" in changes:
            wave.environment = _environment(changes["environment_id"])
        if "percentage" in changes:
            wave.percentage = changes["percentage"]
        if "planned_start" in changes:
            wave.planned_start = changes["planned_start"]
        if "planned_start_local" in changes:
            wave.planned_start = local_start(
                changes["planned_start_local"], wave.environment.time_zone, "planned_start_local"
            )
        if "bake_minutes" in changes:
            wave.bake_minutes = changes["bake_minutes"]
        if "failure_policy" in changes:
            wave.failure_policy = changes["failure_policy"]
        if "deployer" in changes:
            wave.deployer = changes["deployer"]
        if "shadow" in changes:
            wave.shadow = changes["shadow"]
        wave.save()
        after = {
            "name": wave.name,
            "environment": wave.environment.name,
            "percentage": wave.percentage,
            "planned_start": wave.planned_start.isoformat() if wave.planned_start else None,
            "bake_minutes": wave.bake_minutes,
            "failure_policy": wave.failure_policy,
            "deployer": wave.deployer,
            "shadow": wave.shadow,
        }
        diff = {k for k in after if after[k] != before[k]}
        if diff:
            record_change(
                release_id=release.pk,
                actor=actor,
                verb="wave.updated",
                obj=wave,
                before={k: before[k] for k in diff},
                after={k: after[k] for k in diff},
            )
            if release.phase == release_rules.ROLLOUT:
                queue.wake(wave)  # a waiting wave looks at its new time or place at once
    return wave


def plan_apply_strategy(
    *, release_id: int, strategy: str, environment_ids: Sequence[int], actor: User
) -> list[Wave]:
    """Set the plan's strategy and replace its waves with the strategy's defaults for the
    named environments, in that order. Waves can be edited afterwards."""
    from .strategies import default_waves

    ids = list(environment_ids)
    found = {e.pk: e for e in Environment.objects.filter(pk__in=ids)}
    if len(found) != len(set(ids)):
        raise ServiceError("An environment does not exist.", field="environments")
    envs = [found[i] for i in ids]
    specs = default_waves(strategy, [e.name for e in envs])
    by_name = {e.name: e for e in envs}
    with transaction.atomic():
        plan = plan_set(release_id=release_id, strategy=strategy, actor=actor)
        release = get_release(plan.release_id, lock=True)
        if plan.waves.exclude(state=WaveState.PENDING).exists():
            raise Conflict("Some waves have already moved; edit them one by one.")
        plan.waves.all().delete()
        waves = [
            Wave.objects.create(
                plan=plan,
                position=i,
                name=spec.name,
                environment=by_name[spec.environment],
                percentage=spec.percentage,
                bake_minutes=spec.bake_minutes,
                shadow=spec.shadow,
            )
            for i, spec in enumerate(specs, start=1)
        ]
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="plan.defaults_applied",
            obj=plan,
            after={"strategy": strategy, "waves": [w.name for w in waves]},
        )
    return waves


def check_add(
    *,
    wave_id: int,
    name: str,
    kind: str,
    actor: User,
    config: dict[str, object] | None = None,
    interval_seconds: int = 60,
    failures_to_fail: int = 3,
) -> Check:
    """Attach a verification check (a `CheckKind`) to a wave that has not started. Its
    configuration is the kind's to judge, and where it may point the egress policy's."""
    from . import checks

    checked = checks.validate_config(kind, config if config is not None else {})
    release_id = _release_id_of(wave_id)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.PLAN_ROLLOUT, release)
        wave = Wave.objects.select_for_update(of=("self",)).get(pk=wave_id)
        if wave.state not in WAITING_STATES:
            raise Conflict(f"Checks of a {wave.state} wave can no longer change.")
        check = Check.objects.create(
            wave=wave,
            name=name,
            kind=kind,
            config=checked,
            interval_seconds=interval_seconds,
            failures_to_fail=failures_to_fail,
        )
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="check.added",
            obj=check,
            after={
                "wave": wave.name,
                "name": name,
                "kind": kind,
                "config": checked,
                "interval_seconds": interval_seconds,
                "failures_to_fail": failures_to_fail,
            },
        )
    return check


def wave_requirement_set(
    *, wave_id: int, role: str, count: int, actor: User
) -> SignoffRequirement | None:
    """A wave's own sign-off requirement (count 0 removes it): N approvals from a role before it
    starts. `role` is a stakeholder role's slug."""
    role_obj = StakeholderRole.objects.filter(slug=role).first()
    if role_obj is None:
        raise ServiceError(f"Unknown stakeholder role {role!r}.", field="role")
    release_id = _release_id_of(wave_id)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.SET_POLICY, release)
        wave = Wave.objects.select_for_update(of=("self",)).get(pk=wave_id)
        if wave.state not in WAITING_STATES:
            raise Conflict(f"The sign-off of a {wave.state} wave can no longer change.")
        existing = SignoffRequirement.objects.filter(wave=wave, role=role_obj).first()
        before = existing.count if existing else 0
        if before == count:
            return existing
        if existing is None:
            requirement = SignoffRequirement.objects.create(
                release=release, wave=wave, role=role_obj, count=count
            )
        elif count == 0:
            existing.delete()
            requirement = None
        else:
            existing.count = count
            existing.save(update_fields=["count"])
            requirement = existing
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="wave.requirement_set",
            obj=wave,
            before={"role": role, "count": before},
            after={"role": role, "count": count},
        )
        if release.phase == release_rules.ROLLOUT:
            queue.wake(wave)
    return requirement
