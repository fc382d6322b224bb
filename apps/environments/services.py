"""Writes to environments and their deployment and freeze windows (the stop-the-line switch is
`stop_line`). What these mean for running rollouts is the rollout app's business: it hears of
each change through `signals`."""

from datetime import datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import validate_time_zone
from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core import egress
from apps.core.errors import NotFound, ServiceError
from apps.core.validation import clean_choice, clean_datetime, clean_id, clean_text

from . import signals
from .models import DeploymentWindow, Environment, FreezeScope, FreezeWindow, Tier

_url = URLValidator(schemes=["http", "https"])


def _clean_url(value: Any, field: str) -> str:
    url = clean_text(value, field=field, max_length=200)
    if url:
        try:
            _url(url)
        except ValidationError:
            raise ServiceError(f"{field} must be an http(s) URL.", field=field) from None
    return url


def _clean_name(value: Any) -> str:
    name = clean_text(value, field="name", max_length=64, required=True)
    try:
        validate_slug(name)
    except ValidationError:
        raise ServiceError(
            "name may hold only letters, digits, hyphens and underscores.", field="name"
        ) from None
    return name


def _clean_time_zone(value: Any) -> str:
    tz = clean_text(value, field="time_zone", max_length=64, required=True)
    try:
        validate_time_zone(tz)
    except ValidationError:
        raise ServiceError(f"{tz!r} is not an IANA time zone.", field="time_zone") from None
    return tz


def _get_environment(environment_id: Any, *, lock: bool = False) -> Environment:
    qs = Environment.objects.select_for_update() if lock else Environment.objects
    env = qs.filter(pk=clean_id(environment_id, field="environment")).first()
    if env is None:
        raise NotFound("No such environment.", field="environment")
    return env


_ENV_FIELDS = ("name", "tier", "region", "time_zone", "health_url", "deploy_url", "deploy_secret")
SECRET_MIN, SECRET_MAX = 16, 128


def _env_snapshot(env: Environment) -> dict[str, str]:
    return {f: getattr(env, f) for f in _ENV_FIELDS}


def _audited(values: dict[str, str]) -> dict[str, str]:
    """What the audit trail keeps of an environment's fields: never the deploy secret itself."""
    if "deploy_secret" in values:
        values = {**values, "deploy_secret": "set" if values["deploy_secret"] else "not set"}
    return values


def _clean_secret(value: Any) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError("deploy_secret must be text.", field="deploy_secret")
    secret = clean_text(value, field="deploy_secret", max_length=SECRET_MAX)
    if secret != value:
        raise ServiceError(
            "deploy_secret must not start or end with spaces.", field="deploy_secret"
        )
    if secret and len(secret) < SECRET_MIN:
        raise ServiceError(
            f"deploy_secret must be {SECRET_MIN} to {SECRET_MAX} characters (empty removes it).",
            field="deploy_secret",
        )
    return secret


def _clean_env_changes(changes: dict[str, Any]) -> dict[str, str]:
    unknown = set(changes) - set(_ENV_FIELDS)
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.", field=min(unknown))
    cleaned: dict[str, str] = {}
    if "name" in changes:
        cleaned["name"] = _clean_name(changes["name"])
    if "tier" in changes:
        cleaned["tier"] = clean_choice(changes["tier"], field="tier", choices=Tier)
    if "region" in changes:
        cleaned["region"] = clean_text(changes["region"], field="region", max_length=64)
    if "time_zone" in changes:
        cleaned["time_zone"] = _clean_time_zone(changes["time_zone"])
    if "health_url" in changes:
        cleaned["health_url"] = _clean_url(changes["health_url"], "health_url")
    if "deploy_url" in changes:
        cleaned["deploy_url"] = _clean_url(changes["deploy_url"], "deploy_url")
        if cleaned["deploy_url"]:  # a deploy tool outbound requests may reach
            egress.check_url(cleaned["deploy_url"], field="deploy_url")
    if "deploy_secret" in changes:
        cleaned["deploy_secret"] = _clean_secret(changes["deploy_secret"])
    return cleaned


def _save_env(env: Environment, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            env.save(**kwargs)
    except IntegrityError:
        raise ServiceError("Another environment has that name.", field="name") from None


def environment_create(
    *,
    name: Any,
    tier: Any,
    time_zone: Any,
    actor: Any,
    region: Any = "",
    health_url: Any = "",
    deploy_url: Any = "",
    deploy_secret: Any = "",
) -> Environment:
    """Create an environment; creating the same one again returns it. `deploy_url` and
    `deploy_secret` are the webhook deployer's tool and signing key for this environment."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    cleaned = _clean_env_changes(
        {
            "name": name,
            "tier": tier,
            "time_zone": time_zone,
            "region": region,
            "health_url": health_url,
            "deploy_url": deploy_url,
            "deploy_secret": deploy_secret,
        }
    )
    with transaction.atomic():
        existing = Environment.objects.filter(name=cleaned["name"]).first()
        if existing is not None:
            if _env_snapshot(existing) == cleaned:
                return existing
            raise ServiceError("Another environment has that name.", field="name")
        env = Environment(**cleaned)
        _save_env(env)
        audit_record(actor=actor, verb="environment.created", obj=env, after=_audited(cleaned))
    return env


def environment_update(*, environment_id: Any, actor: Any, **changes: Any) -> Environment:
    """Change some of an environment's fields; an empty `deploy_secret` removes it."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    cleaned = _clean_env_changes(changes)
    with transaction.atomic():
        env = _get_environment(environment_id, lock=True)
        before = _env_snapshot(env)
        changed = [f for f, v in cleaned.items() if before[f] != v]
        if not changed:
            return env
        for f in changed:
            setattr(env, f, cleaned[f])
        _save_env(env, update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            verb="environment.updated",
            obj=env,
            before=_audited({f: before[f] for f in changed}),
            after=_audited({f: cleaned[f] for f in changed}),
        )
    return env


def _clean_weekdays(value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise ServiceError(
            "weekdays must be a non-empty list of 0 (Monday) to 6.", field="weekdays"
        )
    days = set()
    for day in value:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ServiceError("weekdays must be numbers 0 (Monday) to 6.", field="weekdays")
        days.add(day)
    return sorted(days)


def _clean_time(value: Any, field: str) -> time:
    if not isinstance(value, time):
        raise ServiceError(f"{field} must be a time of day.", field=field)
    if value.tzinfo is not None:
        raise ServiceError(f"{field} is a local time: leave out the offset.", field=field)
    return value.replace(microsecond=0)


def deployment_window_add(
    *, environment_id: Any, weekdays: Any, start_time: Any, end_time: Any, actor: Any
) -> DeploymentWindow:
    """Allow changes to an environment on `weekdays` between two local times."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    weekdays = _clean_weekdays(weekdays)
    start_time = _clean_time(start_time, "start_time")
    end_time = _clean_time(end_time, "end_time")
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


def deployment_window_remove(*, window_id: Any, actor: Any) -> None:
    require(actor, Action.MANAGE_ENVIRONMENTS)
    with transaction.atomic():
        window = (
            DeploymentWindow.objects.select_for_update()
            .select_related("environment")
            .filter(pk=clean_id(window_id, field="window"))
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


def _freeze_snapshot(freeze: FreezeWindow) -> dict[str, Any]:
    return {
        "scope": freeze.scope,
        "environment": freeze.environment.name if freeze.environment is not None else None,
        "region": freeze.region,
        "start": freeze.start.isoformat(),
        "end": freeze.end.isoformat(),
        "reason": freeze.reason,
    }


def _clean_freeze_scope(scope: Any, environment_id: Any, region: Any) -> tuple:
    scope = clean_choice(scope, field="scope", choices=FreezeScope)
    region = clean_text(region, field="region", max_length=64)
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
    return scope, environment, region


def freeze_create(
    *,
    scope: Any,
    start: Any,
    end: Any,
    reason: Any,
    actor: Any,
    environment_id: Any = None,
    region: Any = "",
) -> FreezeWindow:
    """Declare a blackout for one environment, a region or everywhere."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    scope, environment, region = _clean_freeze_scope(scope, environment_id, region)
    start = clean_datetime(start, field="start", required=True)
    end = clean_datetime(end, field="end", required=True)
    if end <= start:
        raise ServiceError("A freeze must end after it starts.", field="end")
    reason = clean_text(reason, field="reason", max_length=300, required=True)
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


def _locked_freeze(freeze_id: Any) -> FreezeWindow:
    freeze = (
        FreezeWindow.objects.select_for_update(of=("self",))
        .select_related("environment")
        .filter(pk=clean_id(freeze_id, field="freeze"))
        .first()
    )
    if freeze is None:
        raise NotFound("No such freeze window.", field="freeze")
    return freeze


def _in_force(freeze: FreezeWindow, now: datetime) -> bool:
    return freeze.start <= now < freeze.end


def freeze_update(
    *, freeze_id: Any, actor: Any, change_reason: Any = "", **changes: Any
) -> FreezeWindow:
    """Move a freeze's start or end, or reword its reason. Shortening a freeze in force (an
    earlier end, a later start) lifts some of its protection, so it needs `change_reason`."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    unknown = set(changes) - {"start", "end", "reason"}
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.", field=min(unknown))
    change_reason = clean_text(change_reason, field="change_reason", max_length=2000)
    with transaction.atomic():
        freeze = _locked_freeze(freeze_id)
        start = clean_datetime(changes.get("start", freeze.start), field="start", required=True)
        end = clean_datetime(changes.get("end", freeze.end), field="end", required=True)
        if end <= start:
            raise ServiceError("A freeze must end after it starts.", field="end")
        reason = clean_text(
            changes.get("reason", freeze.reason), field="reason", max_length=300, required=True
        )
        before = _freeze_snapshot(freeze)
        if (freeze.start, freeze.end, freeze.reason) == (start, end, reason):
            return freeze
        shortened = end < freeze.end or start > freeze.start
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


def freeze_remove(*, freeze_id: Any, actor: Any, reason: Any = "") -> None:
    """Lift a freeze altogether; one in force needs a reason."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    reason = clean_text(reason, field="reason", max_length=2000)
    with transaction.atomic():
        freeze = _locked_freeze(freeze_id)
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
