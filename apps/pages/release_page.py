"""What the release page shows: one read of the release and what hangs off it (sign-offs,
moves, waves, activity), scoped to the person looking. The view adds only its live pass."""

from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Count, Q, Window
from django.utils import timezone

from apps.accounts.permissions import Action, can
from apps.audit.models import AuditEvent
from apps.audit.verbs import CHECK_RESULT_VERBS
from apps.notifications.models import Announcement
from apps.releases import rules
from apps.releases.models import (
    Defect,
    MoveState,
    Phase,
    PhaseMove,
    PostReleaseReview,
    Release,
    Severity,
)
from apps.releases.selectors import next_move_blockers, release_facts, release_subtitle
from apps.rollouts.dryrun import window_notes
from apps.rollouts.models import RolloutPlan, Wave
from apps.signoffs.eligibility import signoff_roles
from apps.signoffs.models import SignOff, SignoffRequirement
from apps.signoffs.services import SIGNING_PHASES
from apps.stakeholders.models import Stakeholder

from . import activity

MAIN_PHASES = [
    rules.PLANNING,
    rules.PREPARATION,
    rules.TESTING,
    rules.ROLLOUT,
    rules.SUPPORT,
    rules.COMPLETED,
]
REVIEW_PHASES = (rules.SUPPORT, rules.COMPLETED, rules.ROLLED_BACK)
AUDIT_LIMIT = 20


@dataclass(frozen=True)
class SignoffRow:
    """A sign-off with the reasons of its own that it no longer counts."""

    signoff: SignOff
    is_stale: bool  # given for other content
    is_expired: bool


@dataclass(frozen=True)
class DefectRow:
    defect: Defect
    blocking: bool
    closable: bool  # this viewer may close it now


def release_page(release: Release, user: Any) -> dict[str, Any]:
    """Everything the release page shows to `user`, read in a fixed number of queries."""
    facts = release_facts(release)
    tally = rules.signoff_tally(facts)
    target = rules.next_phase(release.phase)
    blockers = next_move_blockers(release, facts)

    signoffs = [
        _signoff_row(signoff, facts)
        for signoff in SignOff.objects.filter(release=release)
        .select_related("signer", "role", "wave")
        .order_by("-id")
    ]
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
        (
            row.signoff
            for row in signoffs
            if row.signoff.signer_id == user.pk and not row.is_stale and row.signoff.wave_id is None
        ),
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
        .exclude(verb__in=CHECK_RESULT_VERBS)
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
        "subtitle": release_subtitle(release),
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
        "defects": _defect_rows(list(release.defects.select_related("opened_by")), user, release),
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
        AuditEvent.objects.filter(release_id=release.pk, verb__in=CHECK_RESULT_VERBS)
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


def _signoff_row(signoff: SignOff, facts: rules.ReleaseFacts) -> SignoffRow:
    # The page shows the reasons a sign-off no longer counts that belong to the sign-off
    # itself; the tally counts with the same rule.
    fact = signoff.fact()
    standing = rules.signoff_standing(fact, facts)
    return SignoffRow(
        signoff=signoff,
        is_stale=standing == rules.STALE,
        is_expired=standing == rules.EXPIRED,
    )


def _defect_rows(defects: list[Defect], user: Any, release: Release) -> list[DefectRow]:
    """The defects, marking the open ones this viewer may close: a blocking one only by a
    release manager or the release's qa stakeholder (`Action.CLOSE_BLOCKING_DEFECT`), with a
    resolution."""
    ordinary = can(user, Action.MANAGE_DEFECTS, release)
    rows = [
        DefectRow(
            defect=defect,
            blocking=defect.severity in rules.BLOCKING_SEVERITIES,
            closable=defect.status == "open" and ordinary,
        )
        for defect in defects
    ]
    if any(r.closable and r.blocking for r in rows):  # the stakeholder lookup only then
        if not can(user, Action.CLOSE_BLOCKING_DEFECT, release):
            rows = [replace(r, closable=False) if r.blocking else r for r in rows]
    return rows
