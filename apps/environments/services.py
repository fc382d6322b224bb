"""Writes to environments and their deployment and freeze windows (the stop-the-line switch is
`stop_line`). What these mean for running rollouts is the rollout app's business: it hears of
each change through `signals`."""

from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core import egress
from apps.core.errors import Blocker, Conflict, NotFound, ServiceError

from . import signals
from .models import DeploymentWindow, Environment, FreezeScope, FreezeWindow


def _get_environment(environment_id: int, *, lock: bool = False) -> Environment:
    qs = Environment.objects.select_for_update() if lock else Environment.objects
    env = qs.filter(pk=environment_id).first()
    if env is None:
        raise NotFound("No such environment.", field="environment")
    return env


_ENV_FIELDS = (
    "name",
    "tier",
    "region",
    "time_zone",
    "health_url",
    "deploy_url",
    "deploy_secret",
    "freeze_lift_quorum",
)
EnvValues = dict[str, str | int]


def _env_snapshot(env: Environment) -> EnvValues:
    return {f: getattr(env, f) for f in _ENV_FIELDS}


def _audited(values: EnvValues) -> EnvValues:
    """What the audit trail keeps of an environment's fields: never the deploy secret itself."""
    if "deploy_secret" in values:
        values = {**values, "deploy_secret": "set" if values["deploy_secret"] else "not set"}
    return values


def _check_deploy_url(values: EnvValues) -> None:
    if values.get("deploy_url"):  # a deploy tool outbound requests may reach
        egress.check_url(str(values["deploy_url"]), field="deploy_url")


def _check_quorum(values: EnvValues) -> None:
    quorum = values.get("freeze_lift_quorum")
    if quorum is not None and (not isinstance(quorum, int) or quorum < 1):
        raise ServiceError(
            "An incident freeze needs at least one approval to lift.", field="freeze_lift_quorum"
        )


def _save_env(env: Environment, *, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            env.save(update_fields=update_fields)
    except IntegrityError:
        raise ServiceError("Another environment has that name.", field="name") from None


def environment_create(
    *,
    name: str,
    tier: str,
    time_zone: str,
    actor: User,
    region: str = "",
    health_url: str = "",
    deploy_url: str = "",
    deploy_secret: str = "",
    freeze_lift_quorum: int = 1,
) -> Environment:
    """Create an environment; creating the same one again returns it. `deploy_url` and
    `deploy_secret` are the webhook deployer's tool and signing key for this environment;
    `freeze_lift_quorum` how many people must approve lifting an incident freeze over it."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    values: EnvValues = {
        "name": name,
        "tier": tier,
        "time_zone": time_zone,
        "region": region,
        "health_url": health_url,
        "deploy_url": deploy_url,
        "deploy_secret": deploy_secret,
        "freeze_lift_quorum": freeze_lift_quorum,
    }
    _check_deploy_url(values)
    _check_quorum(values)
    with transaction.atomic():
        existing = Environment.objects.filter(name=name).first()
        if existing is not None:
            if _env_snapshot(existing) == values:
                return existing
            raise ServiceError("Another environment has that name.", field="name")
        env = Environment(**values)
        _save_env(env)
        audit_record(actor=actor, verb="environment.created", obj=env, after=_audited(values))
    return env


def environment_update(
    *,
    environment_id: int,
    actor: User,
    name: str | None = None,
    tier: str | None = None,
    region: str | None = None,
    time_zone: str | None = None,
    health_url: str | None = None,
    deploy_url: str | None = None,
    deploy_secret: str | None = None,
    freeze_lift_quorum: int | None = None,
) -> Environment:
    """Change the fields given (None leaves one as it is); an empty `deploy_secret` removes it."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    given: dict[str, str | int | None] = {
        "name": name,
        "tier": tier,
        "region": region,
        "time_zone": time_zone,
        "health_url": health_url,
        "deploy_url": deploy_url,
        "deploy_secret": deploy_secret,
        "freeze_lift_quorum": freeze_lift_quorum,
    }
    values: EnvValues = {f: v for f, v in given.items() if v is not None}
    _check_deploy_url(values)
    _check_quorum(values)
    with transaction.atomic():
        env = _get_environment(environment_id, lock=True)
        before = _env_snapshot(env)
        changed = [f for f, v in values.items() if before[f] != v]
        if not changed:
            return env
        for f in changed:
            setattr(env, f, values[f])
        _save_env(env, update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            verb="environment.updated",
            obj=env,
            before=_audited({f: before[f] for f in changed}),
            after=_audited({f: values[f] for f in changed}),
        )
    return env


def deployment_window_add(
    *,
    environment_id: int,
    weekdays: list[int],
    start_time: time,
    end_time: time,
    actor: User,
) -> DeploymentWindow:
    """Allow changes to an environment on `weekdays` (0 = Monday) between two local times."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    weekdays = sorted(set(weekdays))
    start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    if end_time <= start_time:
        raise ServiceError("The window must end after it starts.", field="end_time")
    with transaction.atomic():
        env = _get_environment(environment_id, lock=True)
        existing = DeploymentWindow.objects.filter(
            environment=env, weekdays=weekdays, start_time=start_time, end_time=end_time
        ).first()
        if existing is not None:
            return existing
        window = DeploymentWindow.objects.create(
            environment=env, weekdays=weekdays, start_time=start_time, end_time=end_time
        )
        _calendar_changed()
        audit_record(
            actor=actor,
            verb="deployment_window.added",
            obj=window,
            after={
                "environment": env.name,
                "weekdays": weekdays,
                "start_time": start_time.isoformat(),
                "end_time": end_time.isoformat(),
            },
        )
    return window


def deployment_window_remove(*, window_id: int, actor: User) -> None:
    """Take a deployment window away; changes then follow the environment's other windows."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    with transaction.atomic():
        window = (
            DeploymentWindow.objects.select_for_update()
            .select_related("environment")
            .filter(pk=window_id)
            .first()
        )
        if window is None:
            raise NotFound("No such deployment window.", field="window")
        _calendar_changed()
        audit_record(
            actor=actor,
            verb="deployment_window.removed",
            obj=window,
            before={
                "environment": window.environment.name,
                "weekdays": window.weekdays,
                "start_time": window.start_time.isoformat(),
                "end_time": window.end_time.isoformat(),
            },
        )
        window.delete()


def _freeze_snapshot(freeze: FreezeWindow) -> dict[str, str | None]:
    return {
        "scope": freeze.scope,
        "environment": freeze.environment.name if freeze.environment is not None else None,
        "region": freeze.region,
        "start": freeze.start.isoformat(),
        "end": freeze.end.isoformat(),
        "reason": freeze.reason,
        **({"halts_running": "yes"} if freeze.halts_running else {}),
        **({"application_id": str(freeze.application_id)} if freeze.application_id else {}),
    }


def _freeze_scope(
    scope: str, environment_id: int | None, region: str
) -> tuple[Environment | None, str]:
    """The environment and region a freeze of `scope` names: exactly what that scope needs."""
    environment = None
    if scope == FreezeScope.ENVIRONMENT:
        if environment_id is None:
            raise ServiceError("Name the environment this freeze is for.", field="environment")
        try:
            environment = _get_environment(environment_id)
        except NotFound:
            raise ServiceError("No such environment.", field="environment") from None
        region = ""
    elif environment_id is not None:
        raise ServiceError(f"A {scope} freeze names no environment.", field="environment")
    if scope == FreezeScope.REGION and not region:
        raise ServiceError("Name the region this freeze is for.", field="region")
    if scope == FreezeScope.GLOBAL:
        region = ""
    return environment, region


def freeze_create(
    *,
    scope: str,
    start: datetime,
    end: datetime,
    reason: str,
    actor: User,
    environment_id: int | None = None,
    region: str = "",
) -> FreezeWindow:
    """Declare a blackout for one environment, a region or everywhere."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    environment, region = _freeze_scope(scope, environment_id, region)
    if end <= start:
        raise ServiceError("A freeze must end after it starts.", field="end")
    with transaction.atomic():
        existing = FreezeWindow.objects.filter(
            scope=scope,
            environment=environment,
            region=region,
            start=start,
            end=end,
            reason=reason,
        ).first()
        if existing is not None:
            return existing
        freeze = FreezeWindow.objects.create(
            scope=scope,
            environment=environment,
            region=region,
            start=start,
            end=end,
            reason=reason,
            created_by=actor,
        )
        _calendar_changed()
        audit_record(
            actor=actor,
            verb="freeze.created",
            obj=freeze,
            after=_freeze_snapshot(freeze),
            reason=reason,
        )
    return freeze


def freeze_declare_halting(
    *,
    scope: str,
    start: datetime,
    end: datetime,
    reason: str,
    environment_id: int | None = None,
    region: str = "",
    application_id: int | None = None,
) -> FreezeWindow:
    """Declare, for the system (an incident), a freeze that also halts the running waves in its
    scope (of the application `application_id` only, when given: the caller has checked it
    exists). Whoever calls has decided it is due; lifting it early takes its quorum."""
    environment, region = _freeze_scope(scope, environment_id, region)
    if end <= start:
        raise ServiceError("A freeze must end after it starts.", field="end")
    with transaction.atomic():
        freeze = FreezeWindow.objects.create(
            scope=scope,
            environment=environment,
            region=region,
            start=start,
            end=end,
            reason=reason[:300],
            halts_running=True,
            application_id=application_id,
        )
        _calendar_changed()
        audit_record(
            actor=None,
            verb="freeze.created",
            obj=freeze,
            after=_freeze_snapshot(freeze),
            reason=freeze.reason,
        )
    return freeze


def freeze_end_now(
    *, freeze_id: int, actor: User | None, reason: str, now: datetime | None = None
) -> FreezeWindow:
    """End a freeze now, keeping it on the calendar as it was in force. The caller has checked
    the right to (an incident freeze's quorum, or its source resolving it); a freeze already
    over is left as it is."""
    now = now or timezone.now()
    with transaction.atomic():
        freeze = _locked_freeze(freeze_id)
        if freeze.end <= now:
            return freeze
        before = _freeze_snapshot(freeze)
        if freeze.start >= now:
            freeze.start = now - timedelta(microseconds=1)
        freeze.end = now
        freeze.save(update_fields=["start", "end", "updated_at"])
        after = _freeze_snapshot(freeze)
        _calendar_changed()
        audit_record(
            actor=actor,
            verb="freeze.lifted",
            obj=freeze,
            before={k: v for k, v in before.items() if after.get(k) != v},
            after={k: v for k, v in after.items() if before.get(k) != v},
            reason=reason,
        )
    return freeze


def _refuse_quorum_freeze(freeze: FreezeWindow, now: datetime) -> None:
    """An incident freeze in force is lifted by its quorum only, not removed or shortened."""
    if freeze.halts_running and _in_force(freeze, now):
        raise Conflict(
            "This freeze halts running waves for an incident: it is lifted by approvals.",
            blockers=[
                Blocker(
                    "lift_needs_quorum",
                    f"Approve lifting it (POST /api/v1/freeze-windows/{freeze.pk}/lift/); it "
                    "lifts when enough people have.",
                )
            ],
        )


def _locked_freeze(freeze_id: int) -> FreezeWindow:
    freeze = (
        FreezeWindow.objects.select_for_update(of=("self",))
        .select_related("environment")
        .filter(pk=freeze_id)
        .first()
    )
    if freeze is None:
        raise NotFound("No such freeze window.", field="freeze")
    return freeze


def _in_force(freeze: FreezeWindow, now: datetime) -> bool:
    return freeze.start <= now < freeze.end


def freeze_update(
    *,
    freeze_id: int,
    actor: User,
    start: datetime | None = None,
    end: datetime | None = None,
    reason: str | None = None,
    change_reason: str = "",
) -> FreezeWindow:
    """Move a freeze's start or end, or reword its reason (None keeps each as it is).
    Shortening a freeze in force (an earlier end, a later start) lifts some of its
    protection, so it needs `change_reason`."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    with transaction.atomic():
        freeze = _locked_freeze(freeze_id)
        start = freeze.start if start is None else start
        end = freeze.end if end is None else end
        reason = freeze.reason if reason is None else reason
        if end <= start:
            raise ServiceError("A freeze must end after it starts.", field="end")
        before = _freeze_snapshot(freeze)
        if (freeze.start, freeze.end, freeze.reason) == (start, end, reason):
            return freeze
        shortened = end < freeze.end or start > freeze.start
        if shortened:
            _refuse_quorum_freeze(freeze, timezone.now())
        if shortened and _in_force(freeze, timezone.now()) and not change_reason:
            raise ServiceError(
                "This freeze is in force: say why it is shortened (change_reason).",
                field="change_reason",
            )
        freeze.start, freeze.end, freeze.reason = start, end, reason
        freeze.save(update_fields=["start", "end", "reason", "updated_at"])
        after = _freeze_snapshot(freeze)
        _calendar_changed()
        audit_record(
            actor=actor,
            verb="freeze.updated",
            obj=freeze,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
            reason=change_reason,
        )
    return freeze


def freeze_remove(*, freeze_id: int, actor: User, reason: str = "") -> None:
    """Lift a freeze altogether; one in force needs a reason."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    with transaction.atomic():
        freeze = _locked_freeze(freeze_id)
        _refuse_quorum_freeze(freeze, timezone.now())
        if _in_force(freeze, timezone.now()) and not reason:
            raise ServiceError(
                "This freeze is in force: say why it is lifted early.", field="reason"
            )
        _calendar_changed()
        audit_record(
            actor=actor,
            verb="freeze.removed",
            obj=freeze,
            before=_freeze_snapshot(freeze),
            reason=reason,
        )
        freeze.delete()


def _calendar_changed() -> None:
    """A window or freeze changed: waiting waves look again now, not at their old due time."""
    signals.calendar_changed.send(sender=Environment)
