"""The release page: one release with its live parts, and the buttons on it."""

from collections.abc import Callable
from typing import Any, cast

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import Action, page_require
from apps.core.errors import Conflict, ServiceError
from apps.core.htmx import is_htmx, login_required, render_fragment
from apps.core.live import LivePass, live_poll
from apps.notifications.forms import AnnouncementForm
from apps.notifications.services import announcement_create
from apps.releases import services
from apps.releases.forms import (
    ChecklistSetForm,
    DefectCloseForm,
    DefectOpenForm,
    MoveForm,
    ReviewForm,
    TestCaseAddForm,
    TestCaseRecordForm,
)
from apps.releases.models import ChecklistItem, Defect, Release, TestCase
from apps.releases.polling import release_live_parts, release_unchanged
from apps.releases.selectors import releases_visible_to
from apps.releases.services import release_request_move
from apps.signoffs.forms import VerdictForm
from apps.signoffs.services import signoff_give

from .release_page import release_page

TEMPLATE = "releases/detail.html"
# Announced after every action so the live part of the page refreshes at once.
CHANGED_EVENT = "release-changed"
live_pass = LivePass("releases.live")


def _get_visible(request: HttpRequest, release_id: int) -> Release:
    # Roles first, so a person without any learns nothing, not even whether the release exists.
    page_require(request.user, Action.VIEW)
    return get_object_or_404(
        releases_visible_to(request.user).select_related("created_by"), pk=release_id
    )


@require_GET
@login_required
def release_detail(request: HttpRequest, release_id: int) -> HttpResponse:
    release = _get_visible(request, release_id)
    context = _release_context(request, release)
    if is_htmx(request):
        return render(request, f"{TEMPLATE}#live", context)
    return render(request, TEMPLATE, context)


@require_GET
@live_poll(live_pass, release_unchanged)
@login_required
def release_live(request: HttpRequest, release_id: int) -> HttpResponse:
    """Polled every second by an open release page: 204 while nothing changed, else the live part."""
    return release_live_parts(
        request, release_id, TEMPLATE, _release_context, shared_pass=live_pass
    )


@require_POST
@login_required
def signoff_submit(request: HttpRequest, release_id: int) -> HttpResponse:
    release = _get_visible(request, release_id)
    try:
        signoff_give(
            release_id=release.pk,
            actor=cast(User, request.user),
            **VerdictForm(request.POST).verdict(),
        )
    except ServiceError as exc:
        return _answer(request, release_id, "signoff_panel", exc.status, signoff_error=exc.message)
    return _answer(request, release_id, "signoff_panel", 200, changed=True)


@require_POST
@login_required
def move_submit(request: HttpRequest, release_id: int) -> HttpResponse:
    """Ask for a phase move (forward, or ending the release early); a worker carries it out."""
    release = _get_visible(request, release_id)
    try:
        move = release_request_move(
            release_id=release.pk,
            actor=cast(User, request.user),
            **MoveForm(request.POST).move(),
        )
    except Conflict as exc:
        return _answer(
            request,
            release_id,
            "move_panel",
            exc.status,
            move_error=exc.message,
            move_blockers=exc.blockers,
        )
    except ServiceError as exc:
        return _answer(request, release_id, "move_panel", exc.status, move_error=exc.message)
    status = 202 if move is not None else 200
    return _answer(request, release_id, "move_panel", status, changed=move is not None)


# ---- Inline actions on the checklist, tests, defects, announcements and review ----


def _inline(
    request: HttpRequest,
    release_id: int,
    action: Action,
    part: str,
    write: Callable[[Release], Any],
) -> HttpResponse:
    """Check the role, call the service, answer with the refreshed part or the refusal."""
    release = _get_visible(request, release_id)
    page_require(request.user, action, release)
    try:
        write(release)
    except ServiceError as exc:
        return _answer(
            request, release_id, part, exc.status, inline_error=exc.message, error_part=part
        )
    return _answer(request, release_id, part, 200, changed=True)


@require_POST
@login_required
def checklist_set(request: HttpRequest, release_id: int, item_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        item = get_object_or_404(ChecklistItem, pk=item_id, release=release)
        services.checklist_item_set(
            item_id=item.pk,
            actor=cast(User, request.user),
            **ChecklistSetForm(request.POST).checklist_set(),
        )

    return _inline(request, release_id, Action.UPDATE_CHECKLIST, "checklist_list", write)


@require_POST
@login_required
def case_add(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        services.test_case_add(
            release_id=release.pk,
            actor=cast(User, request.user),
            **TestCaseAddForm(request.POST).test_case(),
        )

    return _inline(request, release_id, Action.RECORD_TEST, "tests_list", write)


@require_POST
@login_required
def case_record(request: HttpRequest, release_id: int, case_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        case = get_object_or_404(TestCase, pk=case_id, release=release)
        services.test_case_record(
            case_id=case.pk,
            actor=cast(User, request.user),
            **TestCaseRecordForm(request.POST).result(),
        )

    return _inline(request, release_id, Action.RECORD_TEST, "tests_list", write)


@require_POST
@login_required
def defect_open(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        services.defect_open(
            release_id=release.pk,
            actor=cast(User, request.user),
            **DefectOpenForm(request.POST).defect(),
        )

    return _inline(request, release_id, Action.MANAGE_DEFECTS, "defects_list", write)


@require_POST
@login_required
def defect_close(request: HttpRequest, release_id: int, defect_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        defect = get_object_or_404(Defect, pk=defect_id, release=release)
        services.defect_close(
            defect_id=defect.pk,
            resolution=DefectCloseForm(request.POST).resolution_note(),
            actor=cast(User, request.user),
        )

    return _inline(request, release_id, Action.MANAGE_DEFECTS, "defects_list", write)


@require_POST
@login_required
def announcement_add(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        announcement_create(
            release_id=release.pk,
            actor=cast(User, request.user),
            **AnnouncementForm(request.POST).announcement(),
        )

    return _inline(request, release_id, Action.MANAGE_ANNOUNCEMENTS, "announcements_list", write)


@require_POST
@login_required
def review_submit(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        services.review_write(
            release_id=release.pk,
            actor=cast(User, request.user),
            **ReviewForm(request.POST).review(),
        )

    return _inline(request, release_id, Action.WRITE_REVIEW, "review", write)


def _answer(
    request: HttpRequest,
    release_id: int,
    part: str,
    status: int,
    *,
    changed: bool = False,
    **extra: Any,
) -> HttpResponse:
    """After a button: the refreshed part for htmx, the page (or a redirect to it) otherwise."""
    release = _get_visible(request, release_id)
    context = {**_release_context(request, release), **extra}
    if is_htmx(request):
        return render_fragment(
            request,
            f"{TEMPLATE}#{part}",
            context,
            status=status,
            event=CHANGED_EVENT if changed else None,
        )
    if status < 300:
        return redirect("releases:detail", release_id=release.pk)
    return render(request, TEMPLATE, context, status=status)


def _release_context(request: HttpRequest, release: Release) -> dict[str, Any]:
    """The page's reads, and the pass its live part polls with."""
    return {
        **release_page(release, request.user),
        "live_pass": live_pass.issue(request.user, release.pk),
    }
