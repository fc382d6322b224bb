"""Rollout plans and waves: every write to a plan before it rolls out. (A wave's state is
`transitions`.)"""

from typing import Any

from django.db import transaction
from django.db.models import Max

from apps.accounts.permissions import Action, require
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.core.validation import clean_choice, clean_datetime, clean_id, clean_int, clean_text
from apps.releases import rules as release_rules
from apps.releases.services import get_release, record_change
from apps.signoffs.models import SignoffRequirement
from apps.stakeholders.models import StakeholderRole

from . import queue
from .dryrun import local_start
from .models import (
    Deployer,
    FailurePolicy,
    RolloutPlan,
    Strategy,
    Wave,
    WaveState,
)
from .rules import WAITING_STATES

PLANNABLE = frozenset({release_rules.PLANNING, release_rules.PREPARATION, release_rules.TESTING})


def plan_set(*, release_id: Any, strategy: Any, actor: Any) -> RolloutPlan:
    """Create the release's rollout plan or change its strategy."""
    strategy = clean_choice(strategy, field="strategy", choices=Strategy)
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
    release_id: Any,
    name: Any,
    environment_id: Any,
    actor: Any,
    percentage: Any = 100,
    planned_start: Any = None,
    planned_start_local: Any = None,
    bake_minutes: Any = 30,
    failure_policy: Any = FailurePolicy.HALT,
    deployer: Any = Deployer.SIMULATED,
    shadow: Any = False,
) -> Wave:
    """Append a wave to the release's plan. Its planned start is given in UTC (`planned_start`)
    or in the environment's local time (`planned_start_local`), not both."""
    from apps.environments.models import Environment

    name = clean_text(name, field="name", max_length=100, required=True)
    percentage = clean_int(percentage, field="percentage", minimum=0, maximum=100)
    planned_start = clean_datetime(planned_start, field="planned_start")
    bake_minutes = clean_int(bake_minutes, field="bake_minutes", minimum=0, maximum=60 * 24 * 14)
    failure_policy = clean_choice(failure_policy, field="failure_policy", choices=FailurePolicy)
    deployer = clean_choice(deployer, field="deployer", choices=Deployer)
    if not isinstance(shadow, bool):
        raise ServiceError("shadow must be true or false.", field="shadow")
    try:
        environment = Environment.objects.get(pk=clean_id(environment_id, field="environment"))
    except Environment.DoesNotExist:
        raise ServiceError("No such environment.", field="environment") from None
    if planned_start_local not in (None, ""):
        if planned_start is not None:
            raise _both_starts()
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


def _both_starts() -> ServiceError:
    return ServiceError(
        "Give planned_start (UTC) or planned_start_local, not both.", field="planned_start"
    )


def _wave_and_release_ids(wave_id: Any) -> tuple[int, int]:
    """The wave's id, checked, and its release's: writers lock the release row first."""
    wave_id = clean_id(wave_id, field="wave")
    release_id = Wave.objects.filter(pk=wave_id).values_list("plan__release_id", flat=True).first()
    if release_id is None:
        raise NotFound("No such wave.", field="wave")
    return wave_id, release_id


def wave_update(*, wave_id: Any, actor: Any, **changes: Any) -> Wave:
    """Edit a wave that has not started. Its planned start is `planned_start` (UTC) or
    `planned_start_local` (the environment's local time), not both."""
    from apps.environments.models import Environment

    allowed = {
        "name",
        "environment_id",
        "percentage",
        "planned_start",
        "planned_start_local",
        "bake_minutes",
        "failure_policy",
        "deployer",
        "shadow",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    if "planned_start" in changes and "planned_start_local" in changes:
        raise _both_starts()
    wave_id, release_id = _wave_and_release_ids(wave_id)
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
            wave.name = clean_text(changes["name"], field="name", max_length=100, required=True)
        if "environment_id" in changes:
            try:
                wave.environment = Environment.objects.get(
                    pk=clean_id(changes["environment_id"], field="environment")
                )
            except Environment.DoesNotExist:
                raise ServiceError("No such environment.", field="environment") from None
        if "percentage" in changes:
            wave.percentage = clean_int(
                changes["percentage"], field="percentage", minimum=0, maximum=100
            )
        if "planned_start" in changes:
            wave.planned_start = clean_datetime(changes["planned_start"], field="planned_start")
        if "planned_start_local" in changes:
            wave.planned_start = local_start(
                changes["planned_start_local"], wave.environment.time_zone, "planned_start_local"
            )
        if "bake_minutes" in changes:
            wave.bake_minutes = clean_int(
                changes["bake_minutes"], field="bake_minutes", minimum=0, maximum=60 * 24 * 14
            )
        if "failure_policy" in changes:
            wave.failure_policy = clean_choice(
                changes["failure_policy"], field="failure_policy", choices=FailurePolicy
            )
        if "deployer" in changes:
            wave.deployer = clean_choice(changes["deployer"], field="deployer", choices=Deployer)
        if "shadow" in changes:
            if not isinstance(changes["shadow"], bool):
                raise ServiceError("shadow must be true or false.", field="shadow")
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
    *, release_id: Any, strategy: Any, environment_ids: Any, actor: Any
) -> list[Wave]:
    """Set the plan's strategy and replace its waves with the strategy's defaults for the
    named environments, in that order. Waves can be edited afterwards."""
    from apps.environments.models import Environment

    from .strategies import default_waves

    strategy = clean_choice(strategy, field="strategy", choices=Strategy)
    if not isinstance(environment_ids, list | tuple) or not environment_ids:
        raise ServiceError("Name the environments, in rollout order.", field="environments")
    ids = [clean_id(e, field="environments") for e in environment_ids]
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
    wave_id: Any,
    name: Any,
    kind: Any,
    actor: Any,
    config: Any = None,
    interval_seconds: Any = 60,
    failures_to_fail: Any = 3,
) -> Any:
    """Attach a verification check to a wave that has not started."""
    from . import checks
    from .models import Check, CheckKind

    name = clean_text(name, field="name", max_length=100, required=True)
    kind = clean_choice(kind, field="kind", choices=CheckKind)
    config = checks.validate_config(kind, config if config is not None else {})
    interval_seconds = clean_int(
        interval_seconds, field="interval_seconds", minimum=1, maximum=86400
    )
    failures_to_fail = clean_int(failures_to_fail, field="failures_to_fail", minimum=1, maximum=100)
    wave_id, release_id = _wave_and_release_ids(wave_id)
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
            config=config,
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
                "config": config,
                "interval_seconds": interval_seconds,
                "failures_to_fail": failures_to_fail,
            },
        )
    return check


def wave_requirement_set(*, wave_id: Any, role: Any, count: Any, actor: Any) -> Any:
    """A wave's own sign-off requirement (count 0 removes it): N approvals from a role before it starts."""
    slug = clean_text(role, field="role", max_length=32, required=True)
    count = clean_int(count, field="count", minimum=0, maximum=50)
    role_obj = StakeholderRole.objects.filter(slug=slug).first()
    if role_obj is None:
        raise ServiceError(f"Unknown stakeholder role {slug!r}.", field="role")
    wave_id, release_id = _wave_and_release_ids(wave_id)
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
            before={"role": slug, "count": before},
            after={"role": slug, "count": count},
        )
        if release.phase == release_rules.ROLLOUT:
            queue.wake(wave)
    return requirement
