"""Release pages: the list, one release with its live parts, and the buttons on it."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, Window
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import Action, can, page_require
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, ServiceError
from apps.core.htmx import is_htmx, login_required, render_fragment
from apps.core.live import LivePass, live_poll
from apps.notifications.models import Announcement
from apps.notifications.services import announcement_create
from apps.rollouts.dryrun import window_notes
from apps.rollouts.models import RolloutPlan, Wave
from apps.signoffs.eligibility import signoff_roles
from apps.signoffs.models import SignOff, SignoffRequirement
from apps.signoffs.services import SIGNING_PHASES, signoff_give
from apps.stakeholders.models import Stakeholder

from . import activity, rules, services
from .models import (
    ChecklistItem,
    Defect,
    MoveState,
    Phase,
    PhaseMove,
    PostReleaseReview,
    Release,
    Severity,
    TestCase,
)
from .polling import release_live_parts, release_unchanged
from .selectors import next_move_blockers, release_facts, releases_visible_to
from .services import release_request_move

TEMPLATE = "releases/detail.html"
# Announced after every action so the live part of the page refreshes at once.
CHANGED_EVENT = "release-changed"
MAIN_PHASES = [
    rules.PLANNING,
    rules.PREPARATION,
    rules.TESTING,
    rules.ROLLOUT,
    rules.SUPPORT,
    rules.COMPLETED,
]
AUDIT_LIMIT = 20
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
            decision=request.POST.get("decision", ""),
            comment=request.POST.get("comment", ""),
            role=request.POST.get("role") or None,
            actor=request.user,
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
            to=request.POST.get("to", ""),
            reason=request.POST.get("reason", ""),
            actor=request.user,
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

REVIEW_PHASES = (rules.SUPPORT, rules.COMPLETED, rules.ROLLED_BACK)


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
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
            actor=request.user,
        )

    return _inline(request, release_id, Action.UPDATE_CHECKLIST, "checklist_list", write)


@require_POST
@login_required
def case_add(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        services.test_case_add(
            release_id=release.pk, title=request.POST.get("title", ""), actor=request.user
        )

    return _inline(request, release_id, Action.RECORD_TEST, "tests_list", write)


@require_POST
@login_required
def case_record(request: HttpRequest, release_id: int, case_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        case = get_object_or_404(TestCase, pk=case_id, release=release)
        services.test_case_record(
            case_id=case.pk,
            status=request.POST.get("status", ""),
            note=request.POST.get("note", ""),
            actor=request.user,
        )

    return _inline(request, release_id, Action.RECORD_TEST, "tests_list", write)


@require_POST
@login_required
def defect_open(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        services.defect_open(
            release_id=release.pk,
            title=request.POST.get("title", ""),
            severity=request.POST.get("severity", ""),
            actor=request.user,
        )

    return _inline(request, release_id, Action.MANAGE_DEFECTS, "defects_list", write)


@require_POST
@login_required
def defect_close(request: HttpRequest, release_id: int, defect_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        defect = get_object_or_404(Defect, pk=defect_id, release=release)
        services.defect_close(
            defect_id=defect.pk,
            resolution=request.POST.get("resolution", ""),
            actor=request.user,
        )

    return _inline(request, release_id, Action.MANAGE_DEFECTS, "defects_list", write)


def _closable(defects: list[Defect], user: Any, release: Release) -> list[Defect]:
    """Mark the open defects this viewer may close: a blocking one only by a release manager or
    the release's qa stakeholder (`Action.CLOSE_BLOCKING_DEFECT`), with a resolution."""
    ordinary = can(user, Action.MANAGE_DEFECTS, release)
    for defect in defects:
        defect.blocking = defect.severity in rules.BLOCKING_SEVERITIES
        defect.closable = defect.status == "open" and ordinary
    if any(d.closable and d.blocking for d in defects):  # the stakeholder lookup only then
        blocking = can(user, Action.CLOSE_BLOCKING_DEFECT, release)
        for defect in defects:
            defect.closable = defect.closable and (blocking or not defect.blocking)
    return defects


def _local_datetime(value: str) -> datetime | None:
    """A datetime-local input, read in the viewer's time zone (activated per request)."""
    if not value.strip():
        return None
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ServiceError("Publish time must be a date and time.", field="publish_at") from None
    if timezone.is_aware(naive):
        return naive
    return timezone.make_aware(naive)


@require_POST
@login_required
def announcement_add(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        announcement_create(
            release_id=release.pk,
            title=request.POST.get("title", ""),
            body=request.POST.get("body", ""),
            publish_at=_local_datetime(request.POST.get("publish_at", "")),
            training_url=request.POST.get("training_url", ""),
            actor=request.user,
        )

    return _inline(request, release_id, Action.MANAGE_ANNOUNCEMENTS, "announcements_list", write)


@require_POST
@login_required
def review_submit(request: HttpRequest, release_id: int) -> HttpResponse:
    def write(release: Release) -> None:
        services.review_write(
            release_id=release.pk,
            went_well=request.POST.get("went_well", ""),
            went_badly=request.POST.get("went_badly", ""),
            actions=request.POST.get("actions", ""),
            actor=request.user,
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
    """Everything the release page shows, read in a fixed number of queries."""
    user = request.user
    facts = release_facts(release)
    tally = rules.signoff_tally(facts)
    target = rules.next_phase(release.phase)
    blockers = next_move_blockers(release, facts)

    signoffs = list(
        SignOff.objects.filter(release=release)
        .select_related("signer", "role", "wave")
        .order_by("-id")
    )
    for signoff in signoffs:
        fact = rules.SignoffFact(
            signer_id=signoff.signer_id,
            role=signoff.role.slug,
            decision=signoff.decision,
            fingerprint=signoff.fingerprint,
            created_at=signoff.created_at,
        )
        signoff.is_stale = signoff.fingerprint != release.fingerprint
        signoff.is_expired = not signoff.is_stale and not rules.is_current(fact, facts)
    policy = [
        {
            "role": req.role,
            "needed": req.count,
            "approved": req.count - tally.missing.get(req.role.slug, 0),
        }
        for req in SignoffRequirement.objects.filter(
            release=release, wave__isnull=True
        ).select_related("role")
    ]
    eligible = signoff_roles(user, release)
    my_signoff = next(
        (s for s in signoffs if s.signer_id == user.pk and not s.is_stale and s.wave_id is None),
        None,
    )
    latest_move = (
        PhaseMove.objects.filter(release=release)
        .select_related("requested_by")
        .order_by("-created_at", "-id")
        .first()
    )
    pending_move = latest_move if latest_move and latest_move.state == MoveState.PENDING else None
    refused_move = (
        latest_move
        if latest_move
        and latest_move.state == MoveState.REFUSED
        and latest_move.from_phase == release.phase
        else None
    )
    waves = list(
        Wave.objects.filter(plan__release=release)
        .select_related("environment")
        .order_by("position")
    )
    events = list(
        AuditEvent.objects.filter(release_id=release.pk)
        .exclude(verb__in=activity.CHECK_RESULT_VERBS)
        .order_by("-id")[:AUDIT_LIMIT]
    )
    counts, latest_check = _check_results(release)
    words = activity.words_for([*events, *([latest_check] if latest_check else [])])
    reached, ended_reason = _how_it_ended(release, events, latest_move)
    can_move = can(user, Action.MOVE_PHASE, release)
    allowed = rules.ALLOWED_MOVES.get(release.phase, frozenset())
    end_early = next((p for p in (rules.CANCELLED, rules.ROLLED_BACK) if p in allowed), None)
    return {
        "release": release,
        "subtitle": _subtitle(release),
        "live_pass": live_pass.issue(user, release.pk),
        "terminal": release.phase in rules.TERMINAL,
        "stepper": _stepper(release, reached),
        "ended_reason": ended_reason,
        "target": target,
        "target_label": Phase(target).label if target else "",
        "blockers": blockers,
        "faults": [b for b in blockers if not isinstance(b, rules.UnderWay)],
        "under_way": [b for b in blockers if isinstance(b, rules.UnderWay)],
        "tally": tally,
        "policy": policy,
        "signoffs": signoffs,
        "signing_open": release.phase in SIGNING_PHASES,
        "can_sign": bool(eligible),
        "eligible_roles": eligible,
        "my_signoff": my_signoff,
        "can_move": can_move,
        "pending_move": pending_move,
        "refused_move": refused_move,
        "end_early": end_early,
        "end_early_label": Phase(end_early).label if end_early else "",
        "plan": RolloutPlan.objects.filter(release=release).first(),
        "waves": waves,
        "window_notes": window_notes(release, waves),
        "stakeholders": list(
            Stakeholder.objects.filter(release=release).select_related("user", "role")
        ),
        "checklist": list(release.checklist.select_related("environment", "completed_by")),
        "test_cases": list(release.test_cases.select_related("recorded_by")),
        "defects": _closable(list(release.defects.select_related("opened_by")), user, release),
        "severities": Severity.choices,
        "announcements": list(Announcement.objects.filter(release=release)),
        "review_open": release.phase in REVIEW_PHASES,
        "review": PostReleaseReview.objects.filter(release=release)
        .select_related("written_by")
        .first(),
        "can_checklist": can(user, Action.UPDATE_CHECKLIST, release),
        "can_test": can(user, Action.RECORD_TEST, release),
        "can_defects": can(user, Action.MANAGE_DEFECTS, release),
        "can_announce": can(user, Action.MANAGE_ANNOUNCEMENTS, release),
        "can_review": can(user, Action.WRITE_REVIEW, release),
        "events": [_describe(event, words) for event in events],
        "check_results": {
            **counts,
            "latest": _describe(latest_check, words) if latest_check else None,
        },
        "now": timezone.now(),
    }


def _subtitle(release: Release) -> str:
    """The release's own name, unless it only repeats the application and version."""
    return "" if release.name == f"{release.application.name} {release.version}" else release.name


def _how_it_ended(
    release: Release, events: list[AuditEvent], latest_move: PhaseMove | None
) -> tuple[str | None, str]:
    """For a cancelled or rolled back release: the phase it had reached, and why it ended."""
    if release.phase not in (rules.CANCELLED, rules.ROLLED_BACK):
        return None, ""
    for event in events:  # newest first; the end is among the latest events
        after = event.after if isinstance(event.after, dict) else {}
        before = event.before if isinstance(event.before, dict) else {}
        if event.verb.startswith("release.") and after.get("phase") == release.phase:
            return before.get("phase"), event.reason
    if latest_move is not None and latest_move.to_phase == release.phase:
        return latest_move.from_phase, latest_move.reason
    return (rules.ROLLOUT if release.phase == rules.ROLLED_BACK else None), ""


def _stepper(release: Release, reached: str | None) -> list[dict[str, str]]:
    """The lifecycle as steps: done, current, to do; an early end is shown as its own step."""
    phase = release.phase
    if phase in MAIN_PHASES:
        at = MAIN_PHASES.index(phase)
        states = ["done" if i < at else "current" if i == at else "todo" for i in range(6)]
        if phase == rules.COMPLETED:
            states[-1] = "done"
        return [
            {"phase": p, "label": Phase(p).label, "state": s}
            for p, s in zip(MAIN_PHASES, states, strict=True)
        ]
    # Cancelled or rolled back: show how far the release got before it ended.
    at = MAIN_PHASES.index(reached) if reached in MAIN_PHASES else -1
    steps = [
        {
            "phase": p,
            "label": Phase(p).label,
            "state": "done" if i < at else "stopped" if i == at else "skipped",
        }
        for i, p in enumerate(MAIN_PHASES[:-1])
    ]
    steps.append({"phase": phase, "label": Phase(phase).label, "state": "ended"})
    return steps


def _check_results(release: Release) -> tuple[dict[str, int], AuditEvent | None]:
    """How many check results the release has had, and the latest, in one query: the activity
    shows them as one line, since they belong to the rollout console."""
    latest = (
        AuditEvent.objects.filter(release_id=release.pk, verb__in=activity.CHECK_RESULT_VERBS)
        .annotate(
            passed=Window(Count("id", filter=Q(verb="check.passed"))),
            failed=Window(Count("id", filter=Q(verb="check.failed"))),
        )
        .order_by("-id")
        .first()
    )
    if latest is None:
        return {"passed": 0, "failed": 0}, None
    return {"passed": latest.passed, "failed": latest.failed}, latest


def _describe(event: AuditEvent, words: activity.Words) -> dict[str, Any]:
    return {
        "at": event.at,
        "actor": event.actor_label,
        "text": activity.sentence(event, words),
        "reason": event.reason,
        "failed": event.verb == "check.failed",
    }
