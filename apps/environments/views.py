"""The environments page: tiers, regions and zones, deployment windows and freezes, and the
forms that change them through apps.environments.services."""

import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.timesince import timeuntil
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import Action, can, page_require
from apps.audit.selectors import latest_event_id
from apps.core.errors import NotAllowed, ServiceError
from apps.core.htmx import is_htmx, login_required
from apps.core.live import LivePass, live_poll, seen_number

from . import calendars, selectors, services
from .forms import (
    WEEKDAYS,
    ActionForm,
    DeploymentWindowForm,
    EnvironmentEditForm,
    EnvironmentForm,
    FreezeEditForm,
    FreezeForm,
    ReasonForm,
)
from .models import DeploymentWindow, Environment, FreezeScope, FreezeWindow, Tier

TEMPLATE = "environments/page.html"
TIER_ORDER: dict[str, int] = {Tier.PRODUCTION: 0, Tier.STAGING: 1, Tier.DEVELOPMENT: 2}
DAY_NAMES = dict(WEEKDAYS)
live_pass = LivePass("environments.live")


@require_GET
@login_required
def environments_page(request: HttpRequest) -> HttpResponse:
    page_require(request.user, Action.VIEW)
    return render(request, TEMPLATE, _context(request))


def _unchanged(request: HttpRequest) -> bool:
    seen = seen_number(request, "since")
    return seen is not None and latest_event_id() == seen


@require_GET
@live_poll(live_pass, _unchanged)
@login_required
def environments_live(request: HttpRequest) -> HttpResponse:
    """Polled by the open page: 204 while nothing changed anywhere, else the fresh board."""
    page_require(request.user, Action.VIEW)
    return render(request, f"{TEMPLATE}#board", _context(request))


# ---- Writes: one view per service, each answering with the refreshed board ----


def _write(
    request: HttpRequest,
    key: str,
    form: Form,
    call: Callable[[dict[str, Any]], Any],
    done: str,
) -> HttpResponse:
    """Validate `form`, call the service, and answer: the board (htmx) or a redirect; on a
    refusal the board again with the form's errors in place of the form."""
    status = 400
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from None
        except ServiceError as exc:
            form.add_service_error(exc.field, exc.message)
            status = exc.status
        else:
            if not is_htmx(request):
                return redirect("environments:page")
            return render(request, f"{TEMPLATE}#board", _context(request, flash=done))
    context = _context(request, bound=(key, form))
    if is_htmx(request):
        return render(request, f"{TEMPLATE}#board", context, status=status)
    return render(request, TEMPLATE, context, status=status)


def _manager(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """POST only, signed in, and allowed to manage environments (else 403 before any input is read)."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        page_require(request.user, Action.MANAGE_ENVIRONMENTS)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return require_POST(login_required(wrapper))


@_manager
def environment_create(request: HttpRequest) -> HttpResponse:
    form = EnvironmentForm(request.POST, prefix="new-env")
    return _write(
        request,
        "new-env",
        form,
        lambda d: services.environment_create(actor=cast(User, request.user), **d),
        "Environment added.",
    )


@_manager
def environment_edit(request: HttpRequest, environment_id: int) -> HttpResponse:
    secret_set = Environment.objects.filter(pk=environment_id).exclude(deploy_secret="").exists()
    form = EnvironmentEditForm(request.POST, prefix=f"env-{environment_id}", secret_set=secret_set)
    return _write(
        request,
        f"env-{environment_id}",
        form,
        lambda d: services.environment_update(
            environment_id=environment_id, actor=cast(User, request.user), **form.changes()
        ),
        "Environment saved.",
    )


@_manager
def window_add(request: HttpRequest, environment_id: int) -> HttpResponse:
    form = DeploymentWindowForm(request.POST, prefix=f"win-{environment_id}")
    return _write(
        request,
        f"win-{environment_id}",
        form,
        lambda d: services.deployment_window_add(
            environment_id=environment_id, actor=cast(User, request.user), **d
        ),
        "Deployment window added.",
    )


@_manager
def window_remove(request: HttpRequest, window_id: int) -> HttpResponse:
    return _write(
        request,
        "",
        ActionForm(request.POST),
        lambda d: services.deployment_window_remove(
            window_id=window_id, actor=cast(User, request.user)
        ),
        "Deployment window removed.",
    )


@_manager
def freeze_create(request: HttpRequest) -> HttpResponse:
    form = FreezeForm(request.POST, prefix="new-freeze", environments=_environments())
    return _write(
        request,
        "new-freeze",
        form,
        lambda d: services.freeze_create(
            actor=cast(User, request.user),
            scope=d["scope"],
            environment_id=d["environment"] if d["scope"] == FreezeScope.ENVIRONMENT else None,
            region=d["region"] if d["scope"] == FreezeScope.REGION else "",
            start=d["start"],
            end=d["end"],
            reason=d["reason"],
        ),
        "Freeze declared.",
    )


@_manager
def freeze_edit(request: HttpRequest, freeze_id: int) -> HttpResponse:
    form = FreezeEditForm(request.POST, prefix=f"frz-{freeze_id}")
    return _write(
        request,
        f"frz-{freeze_id}",
        form,
        lambda d: services.freeze_update(freeze_id=freeze_id, actor=cast(User, request.user), **d),
        "Freeze saved.",
    )


@_manager
def freeze_remove(request: HttpRequest, freeze_id: int) -> HttpResponse:
    form = ReasonForm(request.POST, prefix=f"lift-{freeze_id}")
    return _write(
        request,
        f"lift-{freeze_id}",
        form,
        lambda d: services.freeze_remove(freeze_id=freeze_id, actor=cast(User, request.user), **d),
        "Freeze lifted.",
    )


# ---- What the page shows ----


def _environments() -> list[Environment]:
    envs = list(Environment.objects.prefetch_related("deployment_windows"))
    envs.sort(key=lambda e: (TIER_ORDER.get(e.tier, 9), e.name))
    return envs


def _context(
    request: HttpRequest,
    *,
    bound: tuple[str, Form] | None = None,
    flash: str = "",
) -> dict[str, Any]:
    """The whole board in a fixed number of queries, whatever the number of rows."""
    user = request.user
    now = timezone.now()
    viewer_tz = timezone.get_current_timezone()
    envs = _environments()
    freezes = list(
        FreezeWindow.objects.filter(end__gt=now)
        .select_related("environment", "created_by")
        .order_by("start", "id")
    )
    manage = can(user, Action.MANAGE_ENVIRONMENTS)
    key, form = bound if bound else ("", None)
    opened = key if form is not None and form.errors else ""

    def pick(name: str, make: Callable[[], Form]) -> Form:
        return form if form is not None and key == name else make()

    zones_by_region: dict[str, set[str]] = {}
    for env in envs:
        zones_by_region.setdefault(env.region, set()).add(env.time_zone)
    for freeze in freezes:
        freeze.in_force = freeze.start <= now
        freeze.starts_in = timeuntil(freeze.start, now, depth=1)
        freeze.edit_open = opened == f"frz-{freeze.pk}"
        freeze.lift_open = opened == f"lift-{freeze.pk}"
        freeze.zones = sorted(
            z for z in _freeze_zones(freeze, zones_by_region) if z != str(viewer_tz)
        )
        if manage:
            freeze.edit_form = pick(
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
            freeze.lift_form = pick(
                f"lift-{freeze.pk}", partial(ReasonForm, prefix=f"lift-{freeze.pk}")
            )
    for env in envs:
        env.deploy_secret_set = bool(env.deploy_secret)
        windows = list(env.deployment_windows.all())
        windows.sort(key=lambda w: (min(w.weekdays or [7]), w.start_time))
        env.windows = [_describe_window(w, env, viewer_tz, now) for w in windows]
        env.status = _status(env, windows, freezes, now)
        env.same_zone = env.time_zone == str(viewer_tz)
        env.edit_open = opened == f"env-{env.pk}"
        env.window_open = opened == f"win-{env.pk}"
        if manage:
            env.edit_form = pick(
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
            env.window_form = pick(
                f"win-{env.pk}", partial(DeploymentWindowForm, prefix=f"win-{env.pk}")
            )
    context = {
        "environments": envs,
        "freezes": freezes,
        "can_manage": manage,
        "flash": flash,
        "open_form": opened,
        "error": _non_field_error(form),
        "since": latest_event_id(),
        "live_pass": live_pass.issue(user),
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
