"""The rollout console: the current wave, check results and deploy calls as they arrive, and
the operator's buttons, each behind a confirmation step.

Every button calls `operations.wave_operate`, as the API does.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import Action, can, page_require
from apps.core.errors import Conflict, ServiceError
from apps.core.htmx import is_htmx, login_required, render_fragment
from apps.core.live import LivePass, live_poll
from apps.environments.models import StopTheLine
from apps.releases import rules as release_rules
from apps.releases.models import Release
from apps.releases.polling import release_live_parts, release_unchanged

from .. import operations, selectors
from ..forms import OperateForm, first_error
from ..models import CheckResult, DeployCall, FailurePolicy, RolloutPlan, Wave, WaveState
from ..rollbacks import auto_rollbacks_recent
from .shared import CHANGED_EVENT, get_visible, signed_in, typed_int

CONSOLE = "rollouts/console.html"
RECENT_RESULTS = 15
RECENT_CALLS = 10
# Lets an unchanged poll skip the role lookup; every full render renews it.
_live = LivePass("rollouts.console.live")

ACTIONS: dict[str, dict[str, str]] = {
    "start": {
        "label": "Start now",
        "confirm_label": "Start wave now",
        "verb": "Started",
        "style": "btn-primary",
        "effect": "Starts the wave now instead of at its planned time. Deployment windows, "
        "freezes and its sign-offs still apply.",
    },
    "confirm": {
        "label": "Confirm deploy",
        "confirm_label": "Confirm deploy",
        "verb": "Confirmed",
        "style": "btn-success",
        "effect": "Records that the manual deployment is done; the bake and its checks begin.",
    },
    "pause": {
        "label": "Pause",
        "confirm_label": "Pause wave",
        "verb": "Paused",
        "style": "btn-quiet",
        "effect": "Halts the wave where it is. Nothing is rolled back; resuming continues "
        "from the same step.",
    },
    "resume": {
        "label": "Resume",
        "confirm_label": "Resume wave",
        "verb": "Resumed",
        "style": "btn-primary",
        "effect": "Continues the wave from the step it was paused in.",
    },
    "skip": {
        "label": "Skip",
        "confirm_label": "Skip wave",
        "verb": "Skipped",
        "style": "btn-quiet",
        "effect": "Leaves this wave out; the next wave becomes current. The reason is kept "
        "with the release.",
    },
    "abort": {
        "label": "Abort",
        "confirm_label": "Abort wave",
        "verb": "Aborted",
        "style": "btn-danger-outline",
        "effect": "Stops the wave and marks it failed. Nothing is rolled back automatically.",
    },
    "rollback": {
        "label": "Roll back",
        "confirm_label": "Roll back wave",
        "verb": "Rolled back",
        "style": "btn-danger",
        "effect": "Asks the deploy tool to put the previous version back in this wave's "
        "environment. A webhook wave reads rolled back once the tool confirms; if the tool "
        "reports the rollback failed, the wave halts with its reason.",
    },
}
REASON_REQUIRED = frozenset({"abort", "rollback", "skip"})


@require_GET
@login_required
def console(request: HttpRequest, release_id: int) -> HttpResponse:
    release = get_visible(request, release_id)
    context = _console_context(request, release)
    if is_htmx(request):
        return render(request, f"{CONSOLE}#live", context)
    return render(request, CONSOLE, context)


@require_GET
@live_poll(_live, release_unchanged)
@login_required
def console_live(request: HttpRequest, release_id: int) -> HttpResponse:
    """Polled every second by an open console: 204 while nothing changed, else the live parts."""
    return release_live_parts(request, release_id, CONSOLE, _console_context)


def _operated_wave(release: Release, wave_id: int, action: str) -> Wave:
    if action not in ACTIONS:
        raise Http404("No such operator action.")
    return get_object_or_404(
        Wave.objects.select_related("environment"), pk=wave_id, plan__release=release
    )


@require_GET
@login_required
def operate_confirm(
    request: HttpRequest, release_id: int, wave_id: int, action: str
) -> HttpResponse:
    """The confirmation step of an operator button: what it does, and a reason field."""
    release = get_visible(request, release_id)
    wave = _operated_wave(release, wave_id, action)
    page_require(request.user, Action.OPERATE_WAVES, release)
    confirm = _confirm_context(wave, action)
    if is_htmx(request):
        return render(request, f"{CONSOLE}#confirm", {"release": release, **confirm})
    context = _console_context(request, release, focus_id=wave.pk)
    return render(request, CONSOLE, {**context, **confirm, "confirm_inline": True})


@require_POST
@login_required
def operate(request: HttpRequest, release_id: int, wave_id: int, action: str) -> HttpResponse:
    """Carry out a confirmed operator action through `operations.wave_operate`."""
    release = get_visible(request, release_id)
    wave = _operated_wave(release, wave_id, action)
    form = OperateForm(request.POST)
    if not form.is_valid():
        field, message = first_error(form)
        return _refused(request, release, wave, action, ServiceError(message, field=field))
    try:
        operations.wave_operate(
            wave_id=wave.pk,
            action=operations.WaveAction(action),
            actor=signed_in(request),
            reason=form.cleaned_data["reason"],
        )
    except ServiceError as exc:
        return _refused(request, release, wave, action, exc)
    if not is_htmx(request):
        return redirect(f"{reverse('rollouts:console', args=[release.pk])}?wave={wave.pk}")
    release.refresh_from_db()
    context = _console_context(request, release, focus_id=wave.pk)
    wave.refresh_from_db()
    if action == "rollback" and wave.rollback_pending:
        context["done_message"] = f"Rollback of {wave.name} requested; waiting for the deploy tool."
    else:
        context["done_message"] = f"{ACTIONS[action]['verb']} {wave.name}."
    return render_fragment(request, f"{CONSOLE}#operated", context, event=CHANGED_EVENT)


def _refused(
    request: HttpRequest, release: Release, wave: Wave, action: str, exc: ServiceError
) -> HttpResponse:
    """The confirmation step again, with why the action was refused beside the reason."""
    confirm = {
        **_confirm_context(wave, action),
        "reason": request.POST.get("reason", ""),
        "op_error": exc.message,
        "op_field": exc.field,
        "op_blockers": exc.blockers if isinstance(exc, Conflict) else [],
    }
    if is_htmx(request):
        return render(
            request, f"{CONSOLE}#confirm", {"release": release, **confirm}, status=exc.status
        )
    context = _console_context(request, release, focus_id=wave.pk)
    return render(
        request, CONSOLE, {**context, **confirm, "confirm_inline": True}, status=exc.status
    )


def _confirm_context(wave: Wave, action: str) -> dict[str, Any]:
    return {
        "confirm_wave": wave,
        "confirm_action": action,
        "confirm": ACTIONS[action],
        "reason_required": action in REASON_REQUIRED,
    }


def _console_context(
    request: HttpRequest, release: Release, *, focus_id: int | None = None
) -> dict[str, Any]:
    """Everything the console shows, in a fixed number of queries whatever the plan's size."""
    user = request.user
    now = timezone.now()
    if focus_id is None:
        focus_id = typed_int(request.GET.get("wave"))
    waves = selectors.plan_waves(release)
    current = selectors.current_wave(waves)
    focus = next((w for w in waves if w.pk == focus_id), None) or current
    if focus is None and waves:
        focus = waves[-1]
    rolling = release.phase == release_rules.ROLLOUT
    can_operate = can(user, Action.OPERATE_WAVES, release)
    focus_actions = (
        [
            {"name": a, **ACTIONS[a]}
            for a in selectors.operator_actions(focus, current=focus is current)
        ]
        if focus is not None and can_operate and rolling
        else []
    )
    checks = list(selectors.checks_with_latest([focus])) if focus else []
    results = (
        list(
            CheckResult.objects.filter(wave=focus)
            .select_related("wave_check", "recorded_by")
            .order_by("-at", "-pk")[:RECENT_RESULTS]
        )
        if focus
        else []
    )
    calls = (
        list(DeployCall.objects.filter(wave=focus).order_by("-created_at", "-pk")[:RECENT_CALLS])
        if focus
        else []
    )
    done = sum(1 for w in waves if w.state in selectors.DONE_STATES)
    percent = round(100 * done / len(waves)) if waves else 0
    bake = None
    if focus and focus.state == WaveState.VERIFYING and focus.bake_started_at:
        baked = max(int((now - focus.bake_started_at).total_seconds() // 60), 0)
        bake = {
            "baked": min(baked, focus.bake_minutes),
            "total": focus.bake_minutes,
            "ends": focus.bake_started_at + timedelta(minutes=focus.bake_minutes),
            "percent": 100
            if not focus.bake_minutes
            else min(round(100 * baked / focus.bake_minutes), 100),
        }
    return {
        "release": release,
        "auto_rollback": _auto_rollback(release, waves, now) if rolling else None,
        "plan": RolloutPlan.objects.filter(release=release).first(),
        "waves": waves,
        "current": current,
        "focus": focus,
        "focus_actions": focus_actions,
        "focus_query": f"&wave={focus.pk}" if focus and focus is not current else "",
        "checks": checks,
        "results": results,
        "calls": calls,
        "done": done,
        "percent": percent,
        "bake": bake,
        "rolling": rolling,
        "can_operate": can_operate,
        "can_plan": can(user, Action.PLAN_ROLLOUT, release),
        "stop_line": StopTheLine.objects.filter(pk=1, active=True)
        .select_related("changed_by")
        .first(),
        "terminal": release.phase in release_rules.TERMINAL,
        "live_pass": _live.issue(user, release.pk),
        "now": now,
        "asking_me": selectors.waves_asking(user, release, now=now),
    }


def _auto_rollback(release: Release, waves: list[Wave], now: Any) -> dict[str, Any] | None:
    """This release's automatic rollbacks against their cap, once it has used any."""
    if not any(w.failure_policy == FailurePolicy.ROLLBACK for w in waves):
        return None
    recent = auto_rollbacks_recent(release.pk, now)
    if not recent:
        return None
    cap = settings.RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR
    return {"recent": recent, "cap": cap, "capped": recent >= cap}
