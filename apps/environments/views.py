"""The environments page: tiers, regions and zones, deployment windows and freezes, and the
forms that change them through apps.environments.services."""

from collections.abc import Callable
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import Action, page_require
from apps.audit.selectors import latest_event_id
from apps.core.errors import NotAllowed, ServiceError
from apps.core.forms import ServiceErrorsForm
from apps.core.htmx import is_htmx, login_required
from apps.core.live import LivePass, live_poll, seen_number

from . import services
from .board import board, environments
from .forms import (
    ActionForm,
    DeploymentWindowForm,
    EnvironmentEditForm,
    EnvironmentForm,
    FreezeEditForm,
    FreezeForm,
    ReasonForm,
)
from .models import Environment, FreezeScope

TEMPLATE = "environments/page.html"
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
    form: ServiceErrorsForm,
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
    form = FreezeForm(request.POST, prefix="new-freeze", environments=environments())
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


def board_response(
    request: HttpRequest,
    *,
    bound: tuple[str, Form] | None = None,
    flash: str = "",
    status: int = 200,
) -> HttpResponse:
    """The board after a write made by a view of an app above this one (lifting an incident
    freeze): the fragment for htmx, else the page (a redirect when it went through)."""
    if not is_htmx(request) and bound is None:
        return redirect("environments:page")
    context = _context(request, bound=bound, flash=flash)
    return render(
        request, f"{TEMPLATE}#board" if is_htmx(request) else TEMPLATE, context, status=status
    )


def _context(
    request: HttpRequest, *, bound: tuple[str, Form] | None = None, flash: str = ""
) -> dict[str, Any]:
    return {**board(request, bound=bound, flash=flash), "live_pass": live_pass.issue(request.user)}
