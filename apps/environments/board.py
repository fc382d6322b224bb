"""What the environments page shows: each environment's card (windows in words, open or
closed now) and the freezes in force or coming, with the forms a manager may open, as typed
rows for the template."""

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from django.forms import Form
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timeuntil

from apps.accounts.permissions import Action, can
from apps.audit.selectors import latest_event_id

from . import calendars, selectors
from .forms import (
    WEEKDAYS,
    DeploymentWindowForm,
    EnvironmentEditForm,
    EnvironmentForm,
    FreezeEditForm,
    FreezeForm,
    ReasonForm,
)
from .models import DeploymentWindow, Environment, FreezeScope, FreezeWindow, Tier

TIER_ORDER: dict[str, int] = {Tier.PRODUCTION: 0, Tier.STAGING: 1, Tier.DEVELOPMENT: 2}
DAY_NAMES = dict(WEEKDAYS)


@dataclass(frozen=True)
class FreezeRow:
    """A freeze as the page lists it: when it bites, in which other zones, and its forms."""

    freeze: FreezeWindow
    in_force: bool
    starts_in: str
    edit_open: bool
    lift_open: bool
    zones: list[str]
    edit_form: Form | None
    lift_form: Form | None


@dataclass(frozen=True)
class EnvironmentRow:
    """An environment's card: its windows in words, whether it is open now, and its forms."""

    environment: Environment
    deploy_secret_set: bool
    windows: list[dict[str, Any]]
    status: dict[str, Any]
    same_zone: bool
    edit_open: bool
    window_open: bool
    edit_form: Form | None
    window_form: Form | None


def environments() -> list[Environment]:
    envs = list(Environment.objects.prefetch_related("deployment_windows"))
    envs.sort(key=lambda e: (TIER_ORDER.get(e.tier, 9), e.name))
    return envs


def board(
    request: HttpRequest,
    *,
    bound: tuple[str, Form] | None = None,
    flash: str = "",
) -> dict[str, Any]:
    """The whole board in a fixed number of queries, whatever the number of rows."""
    user = request.user
    now = timezone.now()
    viewer_tz = timezone.get_current_timezone()
    envs = environments()
    freezes = list(
        FreezeWindow.objects.filter(end__gt=now)
        .select_related("environment", "created_by")
        .order_by("start", "id")
    )
    manage = can(user, Action.MANAGE_ENVIRONMENTS)
    # Who may be offered to approve lifting an incident freeze (the service checks tiers too).
    approve_lifts = manage or can(user, Action.STOP_THE_LINE)
    key, form = bound if bound else ("", None)
    opened = key if form is not None and form.errors else ""

    def pick(name: str, make: Callable[[], Form]) -> Form:
        return form if form is not None and key == name else make()

    zones_by_region: dict[str, set[str]] = {}
    for env in envs:
        zones_by_region.setdefault(env.region, set()).add(env.time_zone)
    freeze_rows = []
    for freeze in freezes:
        freeze_rows.append(
            FreezeRow(
                freeze=freeze,
                in_force=freeze.start <= now,
                starts_in=timeuntil(freeze.start, now, depth=1),
                edit_open=opened == f"frz-{freeze.pk}",
                lift_open=opened == f"lift-{freeze.pk}",
                zones=sorted(
                    z for z in _freeze_zones(freeze, zones_by_region) if z != str(viewer_tz)
                ),
                edit_form=pick(
                    f"frz-{freeze.pk}",
                    partial(
                        FreezeEditForm,
                        prefix=f"frz-{freeze.pk}",
                        initial={
                            "start": _minute(freeze.start),
                            "end": _minute(freeze.end),
                            "reason": freeze.reason,
                        },
                    ),
                )
                if manage
                else None,
                lift_form=pick(f"lift-{freeze.pk}", partial(ReasonForm, prefix=f"lift-{freeze.pk}"))
                if manage or (approve_lifts and freeze.halts_running)
                else None,
            )
        )
    env_rows = []
    for env in envs:
        windows = list(env.deployment_windows.all())
        windows.sort(key=lambda w: (min(w.weekdays or [7]), w.start_time))
        env_rows.append(
            EnvironmentRow(
                environment=env,
                deploy_secret_set=bool(env.deploy_secret),
                windows=[_describe_window(w, env, viewer_tz, now) for w in windows],
                status=_status(env, windows, freezes, now),
                same_zone=env.time_zone == str(viewer_tz),
                edit_open=opened == f"env-{env.pk}",
                window_open=opened == f"win-{env.pk}",
                edit_form=pick(
                    f"env-{env.pk}",
                    partial(
                        EnvironmentEditForm,
                        prefix=f"env-{env.pk}",
                        secret_set=bool(env.deploy_secret),
                        initial={
                            "name": env.name,
                            "tier": env.tier,
                            "region": env.region,
                            "time_zone": env.time_zone,
                            "health_url": env.health_url,
                            "deploy_url": env.deploy_url,
                        },
                    ),
                )
                if manage
                else None,
                window_form=pick(
                    f"win-{env.pk}", partial(DeploymentWindowForm, prefix=f"win-{env.pk}")
                )
                if manage
                else None,
            )
        )
    context = {
        "environments": env_rows,
        "freezes": freeze_rows,
        "can_manage": manage,
        "can_approve_lifts": approve_lifts,
        "flash": flash,
        "open_form": opened,
        "error": _non_field_error(form),
        "since": latest_event_id(),
        "now": now,
        "regions": sorted(r for r in zones_by_region if r),
    }
    if manage:
        context["env_form"] = pick("new-env", lambda: EnvironmentForm(prefix="new-env"))
        context["freeze_form"] = pick(
            "new-freeze", lambda: FreezeForm(prefix="new-freeze", environments=envs)
        )
        context["time_zones"] = _time_zones()
    return context


def _non_field_error(form: Form | None) -> str:
    if form is None or not form.errors:
        return ""
    errors = form.non_field_errors()
    return str(errors[0]) if errors else ""


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


@lru_cache(maxsize=1)
def _time_zones() -> list[str]:
    return sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )


def _freeze_zones(freeze: FreezeWindow, zones_by_region: dict[str, set[str]]) -> set[str]:
    """The local zones a freeze matters in: its environment's, its region's, or every one."""
    if freeze.scope == FreezeScope.ENVIRONMENT and freeze.environment:
        return {freeze.environment.time_zone}
    if freeze.scope == FreezeScope.REGION:
        return set(zones_by_region.get(freeze.region, set()))
    return set().union(*zones_by_region.values()) if zones_by_region else set()


def _days(weekdays: list[int]) -> str:
    """[0, 1, 2, 3, 4] → "Mon–Fri"; [0, 2] → "Mon, Wed"."""
    days = sorted(set(weekdays))
    if len(days) == 7:
        return "Every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}–{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[d] for d in run)
    return ", ".join(parts)


def _describe_window(
    window: DeploymentWindow, env: Environment, viewer_tz: Any, now: datetime
) -> dict[str, Any]:
    """The window in the environment's hours, and in the viewer's on its next day."""
    zone = zoneinfo.ZoneInfo(env.time_zone)
    today = now.astimezone(zone).date()
    day = next(
        (
            today + timedelta(days=n)
            for n in range(7)
            if (today + timedelta(days=n)).weekday() in window.weekdays
        ),
        today,
    )
    start = _local(day, window.start_time, env.time_zone).astimezone(viewer_tz)
    end = _local(day, window.end_time, env.time_zone).astimezone(viewer_tz)
    return {
        "window": window,
        "days": _days(window.weekdays),
        "start": window.start_time,
        "end": window.end_time,
        "viewer_start": start,
        "viewer_end": end,
        "same_zone": str(viewer_tz) == env.time_zone,
    }


def _local(day: date, at: Any, time_zone: str) -> datetime:
    return calendars.local_to_utc(datetime.combine(day, at), time_zone)


def _status(
    env: Environment, windows: list[DeploymentWindow], freezes: list[FreezeWindow], now: datetime
) -> dict[str, Any]:
    """Whether a wave could start in `env` now, and if not, until when."""
    calendar = selectors.calendar_of(env, windows, freezes)
    freeze = calendars.active_freeze(now, calendar.freezes)
    if freeze is not None:
        return {"state": "frozen", "until": freeze.end, "reason": freeze.reason}
    if not windows:
        return {"state": "open", "label": "any time: no deployment windows"}
    if calendars.in_window(now, calendar):
        return {"state": "open", "label": "inside a deployment window now"}
    return {"state": "closed", "until": calendars.next_window_open(now, calendar)}
