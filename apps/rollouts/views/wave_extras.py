"""A wave's extras on the scheduler: its own sign-off requirement and its verification checks."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.permissions import Action, page_require
from apps.core.errors import NotAllowed, ServiceError
from apps.core.htmx import is_htmx, login_required, render_fragment
from apps.releases.models import Release

from .. import services
from ..forms import CheckForm, WaveRequirementForm, first_error
from ..models import CheckKind, Wave
from .scheduler import SCHEDULER, scheduler_context
from .shared import CHANGED_EVENT, get_visible, signed_in, typed_int


@require_POST
@login_required
def requirement_set(request: HttpRequest, release_id: int, wave_id: int) -> HttpResponse:
    """A wave's own sign-off requirement: N approvals from a stakeholder role before it starts."""
    release = get_visible(request, release_id)
    page_require(request.user, Action.SET_POLICY, release)
    wave = get_object_or_404(Wave, pk=wave_id, plan__release=release)
    form = WaveRequirementForm(request.POST)
    if not form.is_valid():
        return _extras_answer(request, release, 400, error=(wave.pk, first_error(form)[1]))
    try:
        services.wave_requirement_set(
            wave_id=wave.pk,
            role=form.cleaned_data["role"],
            count=form.cleaned_data["count"],
            actor=signed_in(request),
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        return _extras_answer(request, release, exc.status, error=(wave.pk, exc.message))
    return _extras_answer(request, release, 200, changed=True, done=wave.pk)


@require_POST
@login_required
def check_create(request: HttpRequest, release_id: int, wave_id: int) -> HttpResponse:
    """Add a verification check to a wave that has not started."""
    release = get_visible(request, release_id)
    page_require(request.user, Action.PLAN_ROLLOUT, release)
    wave = get_object_or_404(Wave, pk=wave_id, plan__release=release)
    form = CheckForm(request.POST)
    if not form.is_valid():
        return _extras_answer(request, release, 400, error=(wave.pk, first_error(form)[1]))
    kind = form.cleaned_data["kind"]
    try:
        services.check_add(
            wave_id=wave.pk,
            name=form.cleaned_data["name"],
            kind=kind,
            config=_check_config(kind, request.POST),
            interval_seconds=form.cleaned_data["interval_seconds"],
            failures_to_fail=form.cleaned_data["failures_to_fail"],
            actor=signed_in(request),
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        return _extras_answer(request, release, exc.status, error=(wave.pk, exc.message))
    return _extras_answer(request, release, 200, changed=True, done=wave.pk)


def _check_config(kind: str, post: QueryDict) -> dict[str, object]:
    """The check's settings from the form, as a JSON object: what they mean depends on the
    kind, so `checks.validate_config` judges them for the service."""
    url = post.get("url", "").strip()
    if kind == CheckKind.HTTP:
        return {
            "url": url,
            "expect_status": typed_int(post.get("expect_status") or "200"),
            "expect_version": post.get("expect_version", "").strip(),
            "version_field": post.get("version_field", "").strip(),
        }
    if kind == CheckKind.METRIC:
        threshold: float | str = post.get("threshold", "").strip()
        try:
            threshold = float(threshold)
        except ValueError:
            pass  # left as text: the configuration's check says it must be a number
        return {
            "url": url,
            "source": "json",
            "field": post.get("field", "").strip(),
            "operator": post.get("operator", "<="),
            "threshold": threshold,
        }
    return {}


def _extras_answer(
    request: HttpRequest,
    release: Release,
    status: int,
    *,
    changed: bool = False,
    error: tuple[int, str] | None = None,
    done: int | None = None,
) -> HttpResponse:
    if not is_htmx(request) and status < 300:
        return redirect("rollouts:scheduler", release_id=release.pk)
    context = scheduler_context(request, release)
    context["extras_error"] = error
    context["extras_done"] = done
    if is_htmx(request):
        return render_fragment(
            request,
            f"{SCHEDULER}#extras",
            context,
            status=status,
            event=CHANGED_EVENT if changed else None,
        )
    return render(request, SCHEDULER, context, status=status)
