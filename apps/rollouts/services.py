"""Rollout plans and waves. `wave_transition` is the only code that changes a wave's state."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.core.validation import clean_choice, clean_datetime, clean_id, clean_int, clean_text
from apps.releases import rules as release_rules
from apps.releases.services import get_release, record_change

from . import rules
from .models import Deployer, FailurePolicy, RolloutPlan, Strategy, Wave, WaveState

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
    bake_minutes: Any = 30,
    failure_policy: Any = FailurePolicy.HALT,
    deployer: Any = Deployer.SIMULATED,
    shadow: Any = False,
) -> Wave:
    """Append a wave to the release's plan."""
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


def wave_transition(
    *, wave_id: Any, to: Any, actor: Any, reason: Any = "", now: datetime | None = None
) -> Wave:
    """Move a wave to `to`; a no-op when it is already there. `actor` None is the engine."""
    to = clean_choice(to, field="to", choices=WaveState)
    reason = clean_text(reason, field="reason", max_length=2000)
    if to in rules.REASON_REQUIRED and not reason:
        raise ServiceError(f"Say why the wave is {to.replace('_', ' ')}.", field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        try:
            wave = (
                Wave.objects.select_for_update()
                .select_related("plan__release", "environment")
                .get(pk=clean_id(wave_id, field="wave"))
            )
        except Wave.DoesNotExist:
            raise NotFound("No such wave.") from None
        release = wave.plan.release
        if actor is not None:
            require(actor, Action.OPERATE_WAVES, release)
        if wave.state == to:
            return wave
        if not rules.wave_move_allowed(wave.state, to):
            raise Conflict(f"A {wave.state} wave cannot become {to}.")
        if to in rules.LIVE_STATES and release.phase != release_rules.ROLLOUT:
            raise Conflict(f"The release is in {release.phase}; waves run only during rollout.")
        before = {"state": wave.state, "state_reason": wave.state_reason}
        wave.state = to
        wave.state_reason = reason
        fields = ["state", "state_reason", "updated_at"]
        if to == WaveState.SKIPPED:
            wave.skip_reason = reason
            fields.append("skip_reason")
        if to == WaveState.SCHEDULED and wave.scheduled_at is None:
            wave.scheduled_at = wave.planned_start or now
            fields.append("scheduled_at")
        if to == WaveState.DEPLOYING and wave.started_at is None:
            wave.started_at = now
            fields.append("started_at")
        if to in ("succeeded", "failed", "rolled_back", "skipped"):
            wave.finished_at = now
            fields.append("finished_at")
        wave.save(update_fields=fields)
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="wave.state_changed",
            obj=wave,
            before=before,
            after={"state": to, "state_reason": reason},
            reason=reason,
        )
    return wave
