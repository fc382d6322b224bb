"""Release pages with forms: the filtered list, and creating and editing a release."""

from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.permissions import Action, can, page_require
from apps.core.errors import NotAllowed, ServiceError
from apps.core.htmx import login_required

from . import rules
from .forms import ReleaseFilterForm, ReleaseForm
from .models import Phase, Release
from .selectors import release_subtitle, releases_visible_to
from .services import release_create, release_update

PAGE_SIZE = 50


@dataclass(frozen=True)
class ReleaseRow:
    """One release as the list shows it."""

    release: Release
    subtitle: str


def _query(params: QueryDict, **changes: str | None) -> str:
    """The current query string with some parameters replaced (None drops one)."""
    query = params.copy()
    query.pop("page", None)
    for key, value in changes.items():
        query.pop(key, None)
        if value:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@require_GET
@login_required
def release_list(request: HttpRequest) -> HttpResponse:
    page_require(request.user, Action.VIEW)
    form = ReleaseFilterForm(request.GET, user=request.user)
    valid = form.is_valid()  # invalid filters are shown as errors; the valid ones still apply
    releases = form.filter(releases_visible_to(request.user), phase=False)
    counts = dict(releases.order_by().values_list("phase").annotate(n=Count("id")))
    phase = form.cleaned_data.get("phase", "")
    if phase:
        releases = releases.filter(phase=phase)
    page = Paginator(
        releases.order_by(F("planned_start").desc(nulls_last=True), "-created_at", "-id"),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    rows = [ReleaseRow(release=r, subtitle=release_subtitle(r)) for r in page.object_list]
    chips = [
        {
            "value": p.value,
            "label": p.label,
            "count": counts.get(p.value, 0),
            "url": _query(request.GET, phase=p.value),
        }
        for p in Phase
        if counts.get(p.value)
    ]
    narrowed = any(form.cleaned_data.get(k) for k in form.fields if k != "phase")
    return render(
        request,
        "releases/list.html",
        {
            "page": page,
            "rows": rows,
            "phase": phase,
            "filters": chips,
            "all_url": _query(request.GET, phase=None),
            "page_query": _query(request.GET)[1:],
            "total": sum(counts.values()),
            "form": form,
            "narrowed": narrowed,
            "can_create": can(request.user, Action.CREATE_RELEASE),
        },
        status=200 if valid else 400,
    )


@require_http_methods(["GET", "POST"])
@login_required
def release_new(request: HttpRequest) -> HttpResponse:
    page_require(request.user, Action.CREATE_RELEASE)
    if request.method == "GET":
        form = ReleaseForm(actor=cast(User, request.user), initial=_prefill(request))
        return _form_page(request, form)
    form = ReleaseForm(request.POST, actor=cast(User, request.user))
    if not form.is_valid():
        return _form_page(request, form, status=400)
    try:
        release = release_create(actor=cast(User, request.user), **form.new_release())
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        form.add_service_error(exc.field, exc.message)
        return _form_page(request, form, status=exc.status)
    return redirect("releases:detail", release_id=release.pk)


def _prefill(request: HttpRequest) -> dict[str, Any]:
    initial: dict[str, Any] = {"owner": request.user.pk, "hypercare_days": 7}
    application = request.GET.get("application", "")
    if application.isascii() and application.isdigit() and len(application) < 19:
        initial["application"] = int(application)
    return initial


@require_http_methods(["GET", "POST"])
@login_required
def release_edit(request: HttpRequest, release_id: int) -> HttpResponse:
    page_require(request.user, Action.VIEW)
    release = get_object_or_404(
        releases_visible_to(request.user).select_related("created_by"), pk=release_id
    )
    page_require(request.user, Action.EDIT_RELEASE, release)
    if request.method == "GET" or release.phase in rules.TERMINAL:
        # An ended release gets the page saying so, and a POST to it changes nothing.
        status = 200 if request.method == "GET" else 409
        return _form_page(request, _edit_form(release), release=release, status=status)
    form = _edit_form(release, request.POST)
    if not form.is_valid():
        return _form_page(request, form, release=release, status=400)
    try:
        release_update(release_id=release.pk, actor=cast(User, request.user), **form.changes())
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        form.add_service_error(exc.field, exc.message)
        return _form_page(request, form, release=release, status=exc.status)
    return redirect("releases:detail", release_id=release.pk)


def _edit_form(release: Release, data: QueryDict | None = None) -> ReleaseForm:
    form = ReleaseForm(data, release=release)
    if release.phase not in rules.CONTENT_EDITABLE:
        form.lock_content()
    return form


def _form_page(
    request: HttpRequest, form: ReleaseForm, *, release: Release | None = None, status: int = 200
) -> HttpResponse:
    context: dict[str, Any] = {"form": form, "release": release}
    if release is not None:
        context["terminal"] = release.phase in rules.TERMINAL
        context["content_locked"] = release.phase not in rules.CONTENT_EDITABLE
        # Editing version, build or scope makes these sign-offs stale; say so before saving.
        context["current_signoffs"] = release.signoffs.filter(
            fingerprint=release.fingerprint, wave__isnull=True
        ).count()
    return render(request, "releases/form.html", context, status=status)
