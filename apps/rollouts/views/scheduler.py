"""The wave scheduler: waves in local time, the timeline, the dry run and the plan's buttons.

Every button calls the service the API calls: the forms of `rollouts.forms` shape what was
typed, the services decide, and these views turn both kinds of refusal into fragments with the
right status.
"""

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import Action, can, page_require
from apps.core.errors import NotAllowed, ServiceError
from apps.core.htmx import is_htmx, login_required, render_fragment
from apps.environments import calendars
from apps.environments import selectors as env_selectors
from apps.environments.models import Environment
from apps.releases.models import Release

from .. import dryrun, selectors, services
from ..forms import StrategyForm, WavePreviewForm, WaveRowForm, first_error
from ..models import (
    CheckKind,
    Deployer,
    FailurePolicy,
    RolloutPlan,
    Strategy,
    Wave,
)
from .dry_run import dry_run_context
from .shared import CHANGED_EVENT, get_visible, signed_in, typed_int

SCHEDULER = "rollouts/scheduler.html"
# Input names of a wave's row are f"w{wave.pk}-{field}", field as the service names it.
WAVE_FIELDS = ("planned_start_local", "percentage", "bake_minutes", "failure_policy", "deployer")

STRATEGY_ABOUT: dict[str, str] = {
    Strategy.ROLLING: "One wave per environment, in the order you give, each at full share.",
    Strategy.BLUE_GREEN: "Deploy the idle colour, then switch; the old colour stays for a "
    "quick rollback.",
    Strategy.CANARY: "1 %, 10 %, 50 % and 100 % in the first environment, then the others.",
    Strategy.BIG_BANG: "One wave in one environment, everything at once.",
    Strategy.SHADOW: "Mirror traffic that users never see; follow it with a real strategy.",
}


@dataclass(frozen=True)
class EnvironmentChoice:
    """An environment offered to a strategy, with the rollout order typed in (or planned)."""

    environment: Environment
    order: int | str


def _local_input(at: datetime | None, time_zone: str) -> str:
    """A stored UTC time as the value of a datetime-local input in the environment's zone."""
    return calendars.utc_to_local(at, time_zone).strftime("%Y-%m-%dT%H:%M") if at else ""


@require_GET
@login_required
def scheduler(request: HttpRequest, release_id: int) -> HttpResponse:
    release = get_visible(request, release_id)
    return render(request, SCHEDULER, scheduler_context(request, release))


@require_POST
@login_required
def scheduler_preview(request: HttpRequest, release_id: int) -> HttpResponse:
    """The dry run of the values in the form, unsaved: warnings, timeline, flags per wave."""
    release = get_visible(request, release_id)
    waves = selectors.plan_waves(release)
    values = _posted_values(request.POST, waves)
    context = {"release": release}
    if not waves:
        return render(request, f"{SCHEDULER}#dry_run", {**context, **dry_run_context([], [], [])})
    proposal = []
    for wave in waves:
        row = WavePreviewForm(values[wave.pk])
        if not row.is_valid():
            field, message = first_error(row)
            return render(
                request,
                f"{SCHEDULER}#dry_run",
                {**context, "dry_error": _named(wave, field, message), "unsaved": True},
                status=400,
            )
        proposal.append(
            dryrun.ProposedWave(
                environment_id=wave.environment_id,
                name=wave.name,
                planned_start_local=row.cleaned_data["planned_start_local"],
                bake_minutes=row.cleaned_data["bake_minutes"],
            )
        )
    try:
        lines = dryrun.plan_dry_run_proposal(
            waves=proposal, actor=signed_in(request), release_id=release.pk
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        return render(
            request,
            f"{SCHEDULER}#dry_run",
            {**context, "dry_error": _proposal_error(exc, waves), "unsaved": True},
            status=exc.status,
        )
    bakes = [p.bake_minutes for p in proposal]
    dry = dry_run_context(waves, lines, bakes, window=dryrun.planned_window(release))
    unsaved = any(values[w.pk][f] != _saved_values(w)[f] for w in waves for f in WAVE_FIELDS)
    return render(
        request, f"{SCHEDULER}#preview", {**context, **dry, "unsaved": unsaved, "oob": True}
    )


def _proposal_error(exc: ServiceError, waves: list[Wave]) -> str:
    """The service's word on `waves.2.planned_start_local` as a sentence that names the wave."""
    match = re.fullmatch(r"waves\.(\d+)\.(\w+)", exc.field or "")
    if not match or int(match.group(1)) >= len(waves):
        return exc.message
    field = match.group(2)
    message = exc.message.replace(exc.field or "", _FIELD_NAMES.get(field, field))
    return f"{waves[int(match.group(1))].name}: {message}"


def _named(wave: Wave, field: str, message: str) -> str:
    """`bake_minutes must be …` about `wave`, as a sentence that names the wave and the field
    as people call them."""
    if message.startswith(field):
        message = _FIELD_NAMES.get(field, field) + message[len(field) :]
    return f"{wave.name}: {message}"


_FIELD_NAMES = {
    "planned_start_local": "the planned start",
    "bake_minutes": "the bake time",
    "percentage": "the share",
    "failure_policy": "the failure policy",
    "deployer": "the deployer",
}


@require_POST
@login_required
def scheduler_save(request: HttpRequest, release_id: int) -> HttpResponse:
    """Save every edited wave in one transaction: one refused wave saves nothing."""
    release = get_visible(request, release_id)
    page_require(request.user, Action.PLAN_ROLLOUT, release)
    waves = selectors.plan_waves(release)
    values = _posted_values(request.POST, waves)
    errors: dict[str, str] = {}
    saved = 0
    with transaction.atomic():
        for wave in waves:
            if not values[wave.pk]["posted"]:
                continue
            row = WaveRowForm(values[wave.pk])
            if not row.is_valid():
                for field, messages in row.errors.items():
                    errors[f"w{wave.pk}-{field}"] = str(messages[0])
                continue
            try:
                services.wave_update(wave_id=wave.pk, actor=signed_in(request), **row.cleaned_data)
                saved += 1
            except NotAllowed as exc:
                raise PermissionDenied(exc.message) from None
            except ServiceError as exc:
                key = exc.field if exc.field in WAVE_FIELDS else "wave"
                errors[f"w{wave.pk}-{key}"] = exc.message
        if errors:
            transaction.set_rollback(True)
    if errors:
        context = scheduler_context(request, release, values=values, errors=errors)
        n = len(errors)
        context["save_error"] = (
            f"Nothing was saved: {n} value{'s' if n != 1 else ''} need{'s' if n == 1 else ''} "
            "fixing."
        )
        if is_htmx(request):
            return render(request, f"{SCHEDULER}#workspace", context, status=400)
        return render(request, SCHEDULER, context, status=400)
    if not is_htmx(request):
        return redirect("rollouts:scheduler", release_id=release.pk)
    context = scheduler_context(request, release)
    context["notice"] = f"Saved {saved} wave{'s' if saved != 1 else ''}."
    return render_fragment(
        request, f"{SCHEDULER}#workspace", context, event=CHANGED_EVENT if saved else None
    )


@require_POST
@login_required
def strategy_apply(request: HttpRequest, release_id: int) -> HttpResponse:
    """Replace the plan's waves with the chosen strategy's defaults for the chosen environments."""
    release = get_visible(request, release_id)
    page_require(request.user, Action.PLAN_ROLLOUT, release)
    form = StrategyForm(request.POST)
    if not form.is_valid():
        return _strategy_refused(request, release, first_error(form)[1], 400)
    # Rollout order: the order numbers typed beside the environments, then the list order.
    listed = {e.pk: i for i, e in enumerate(selectors.environments_in_rollout_order())}

    def order(env_id: int) -> tuple[int, int]:
        typed = typed_int(request.POST.get(f"order-{env_id}"))
        return (999 if typed is None else typed, listed.get(env_id, 999))

    strategy = form.cleaned_data["strategy"]
    try:
        waves = services.plan_apply_strategy(
            release_id=release.pk,
            strategy=strategy,
            environment_ids=sorted(dict.fromkeys(form.cleaned_data["environments"]), key=order),
            actor=signed_in(request),
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        return _strategy_refused(request, release, exc.message, exc.status)
    if not is_htmx(request):
        return redirect("rollouts:scheduler", release_id=release.pk)
    context = scheduler_context(request, release)
    label = Strategy(strategy).label.lower()
    context["notice"] = (
        f"Applied the {label} defaults: {len(waves)} wave{'s' if len(waves) != 1 else ''}. "
        "Set their start times, then save."
    )
    return render_fragment(request, f"{SCHEDULER}#workspace", context, event=CHANGED_EVENT)


def _strategy_refused(
    request: HttpRequest, release: Release, message: str, status: int
) -> HttpResponse:
    """The strategy form again, as it was filled in, with why it was refused."""
    context = scheduler_context(request, release)
    context["environments"] = [
        replace(row, order=request.POST.get(f"order-{row.environment.pk}", ""))
        for row in context["environments"]
    ]
    context.update(
        strategy_error=message,
        chosen_strategy=request.POST.get("strategy", ""),
        chosen_envs={int(i) for i in request.POST.getlist("environments") if i.isdigit()},
        strategy_open=True,
    )
    template = f"{SCHEDULER}#workspace" if is_htmx(request) else SCHEDULER
    return render(request, template, context, status=status)


def _posted_values(post: QueryDict, waves: list[Wave]) -> dict[int, dict[str, Any]]:
    """Each wave's form values: as typed when its row was posted, as saved otherwise."""
    values = {}
    for wave in waves:
        saved = _saved_values(wave)
        if f"w{wave.pk}-planned_start_local" in post:
            typed = {f: post.get(f"w{wave.pk}-{f}", saved[f]) for f in WAVE_FIELDS}
            values[wave.pk] = {**typed, "posted": True}
        else:
            values[wave.pk] = saved
    return values


def _saved_values(wave: Wave) -> dict[str, Any]:
    return {
        "planned_start_local": _local_input(wave.planned_start, wave.environment.time_zone),
        "percentage": str(wave.percentage),
        "bake_minutes": str(wave.bake_minutes),
        "failure_policy": wave.failure_policy,
        "deployer": wave.deployer,
        "posted": False,
    }


def scheduler_context(
    request: HttpRequest,
    release: Release,
    *,
    values: dict[int, dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the scheduler shows, read in a fixed number of queries."""
    user = request.user
    now = timezone.now()
    waves = selectors.plan_waves(release)
    values = values or {w.pk: _saved_values(w) for w in waves}
    errors = errors or {}
    can_plan = can(user, Action.PLAN_ROLLOUT, release)
    can_policy = can(user, Action.SET_POLICY, release)
    plannable = release.phase in services.PLANNABLE
    by_env = env_selectors.calendars_for(
        {w.environment for w in waves}, now, release.application_id
    )
    proposals = []
    for wave in waves:
        start = wave.planned_start
        if values[wave.pk]["posted"]:
            start = _parse_local(values[wave.pk]["planned_start_local"], wave) or start
        bake = typed_int(values[wave.pk]["bake_minutes"])
        if bake is None or bake < 0:
            bake = wave.bake_minutes  # the refused value is shown beside its field
        proposals.append(selectors.Proposal(wave.name, wave.environment, start, bake))
    window = dryrun.planned_window(release)
    lines = selectors.dry_run(proposals, by_env, now, window)
    requirements = selectors.wave_requirements(release)
    checks: dict[int, list[Any]] = {}
    for check in selectors.checks_with_latest(waves):
        checks.setdefault(check.wave_id, []).append(check)
    rows = []
    for wave in waves:
        editable = can_plan and wave.state in selectors.EDITABLE_STATES
        rows.append(
            {
                "wave": wave,
                "values": values[wave.pk],
                "editable": editable,
                "errors": {f: errors.get(f"w{wave.pk}-{f}", "") for f in (*WAVE_FIELDS, "wave")},
                "requirements": requirements.get(wave.pk, []),
                "checks": checks.get(wave.pk, []),
                "extras_editable": wave.state in selectors.EDITABLE_STATES,
            }
        )
    dry = dry_run_context(
        waves,
        lines,
        [p.bake_minutes for p in proposals],
        by_env=by_env,
        now=now,
        window=window,
    )
    for row, verdict in zip(rows, dry["verdicts"], strict=True):
        row["verdict"] = verdict
    plan = RolloutPlan.objects.filter(release=release).first()
    environments = selectors.environments_in_rollout_order() if can_plan and plannable else []
    wave_envs = list(dict.fromkeys(w.environment_id for w in waves))
    choices = [
        EnvironmentChoice(env, wave_envs.index(env.pk) + 1 if env.pk in wave_envs else "")
        for env in environments
    ]
    context = {
        "release": release,
        "plan": plan,
        "rows": rows,
        "can_plan": can_plan,
        "can_edit_any": any(r["editable"] for r in rows),
        "can_policy": can_policy,
        "plannable": plannable,
        "strategies": [
            {"value": value, "label": label, "about": STRATEGY_ABOUT[value]}
            for value, label in Strategy.choices
        ],
        "chosen_strategy": plan.strategy if plan else Strategy.CANARY,
        "chosen_envs": set(wave_envs),
        "environments": choices,
        "strategy_open": not waves,
        "failure_policies": FailurePolicy.choices,
        "deployers": Deployer.choices,
        "check_kinds": CheckKind.choices,
        "stakeholder_roles": _stakeholder_roles() if can_policy else [],
        "can_operate": can(user, Action.OPERATE_WAVES, release),
        **dry,
    }
    return context


def _parse_local(text: str, wave: Wave) -> datetime | None:
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        return None
    if local.tzinfo is not None or not 1970 <= local.year <= 9998:
        return None
    if calendars.nonexistent_local(local, wave.environment.time_zone):
        return None  # refused on save; the dry run keeps the saved start meanwhile
    return calendars.local_to_utc(local, wave.environment.time_zone)


def _stakeholder_roles() -> list[Any]:
    from apps.stakeholders.models import StakeholderRole

    return list(StakeholderRole.objects.order_by("name"))
