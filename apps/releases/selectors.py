"""Reads that gather what the gates, pages and API need about a release."""

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.permissions import Action, can
from apps.core.errors import NotFound
from apps.core.validation import clean_id

from . import rules
from .models import ChecklistItem, Defect, PostReleaseReview, Release, TestCase


def releases_visible_to(user: Any) -> QuerySet[Release]:
    if not can(user, Action.VIEW):
        return Release.objects.none()
    return Release.objects.select_related("application", "owner")


def release_get(release_id: Any, *, queryset: QuerySet[Release] | None = None) -> Release:
    """One release by its id (from `queryset`, say a locking one); NotFound when there is none."""
    release_id = clean_id(release_id, field="release")
    try:
        return (queryset if queryset is not None else Release.objects.all()).get(pk=release_id)
    except Release.DoesNotExist:
        raise NotFound("No such release.", field="release") from None


def release_facts(release: Release, *, now: Any = None) -> rules.ReleaseFacts:
    """Read everything the gates need, in a fixed handful of queries."""
    from apps.rollouts.models import RolloutPlan, Wave
    from apps.signoffs.models import SignOff, SignoffRequirement
    from apps.stakeholders.models import Stakeholder

    now = now or timezone.now()
    checklist = tuple(
        rules.ChecklistFact(environment=env, title=title, status=status, waive_reason=reason)
        for env, title, status, reason in ChecklistItem.objects.filter(release=release).values_list(
            "environment__name", "title", "status", "waive_reason"
        )
    )
    # A sign-off counts only while its signer still holds the role it was given in.
    stakeholders = list(
        Stakeholder.objects.filter(release=release).values_list(
            "user_id", "role__slug", "role__name"
        )
    )
    held = {(user_id, role) for user_id, role, _ in stakeholders}
    signoffs = tuple(
        rules.SignoffFact(
            signer_id=signer,
            role=role,
            decision=decision,
            fingerprint=fp,
            created_at=created,
            role_held=(signer, role) in held,
        )
        for signer, role, decision, fp, created in SignOff.objects.filter(
            release=release, wave__isnull=True
        ).values_list("signer_id", "role__slug", "decision", "fingerprint", "created_at")
    )
    requirements = list(
        SignoffRequirement.objects.filter(release=release, wave__isnull=True)
        .order_by("role__slug")
        .values_list("role__slug", "count", "role__name")
    )
    policy = tuple((role, count) for role, count, _ in requirements)
    labels = {role: name for _, role, name in stakeholders}
    labels.update((role, name) for role, _, name in requirements)
    stakeholder_roles = frozenset(role for _, role in held)
    defects = tuple(
        rules.DefectFact(title=t, severity=sev, status=st)
        for t, sev, st in Defect.objects.filter(release=release).values_list(
            "title", "severity", "status"
        )
    )
    test_cases = tuple(
        rules.TestCaseFact(title=t, status=st)
        for t, st in TestCase.objects.filter(release=release).values_list("title", "status")
    )
    waves = tuple(
        rules.WaveFact(
            name=n,
            environment=env,
            state=st,
            skip_reason=sr,
            shadow=shadow,
            rollback_pending=rollback_at is not None,
        )
        for n, env, st, sr, shadow, rollback_at in Wave.objects.filter(plan__release=release)
        .order_by("position")
        .values_list(
            "name", "environment__name", "state", "skip_reason", "shadow", "rollback_requested_at"
        )
    )
    has_plan = RolloutPlan.objects.filter(release=release).exists()
    review = PostReleaseReview.objects.filter(release=release).first()
    return rules.ReleaseFacts(
        phase=release.phase,
        now=now,
        scope=release.scope,
        planned_start=release.planned_start,
        planned_end=release.planned_end,
        fingerprint=release.fingerprint,
        stakeholder_roles=stakeholder_roles,
        policy=policy,
        signoff_expiry_days=release.signoff_expiry_days,
        signoffs=signoffs,
        checklist=checklist,
        defects=defects,
        test_cases=test_cases,
        waves=waves,
        hypercare_until=release.hypercare_until,
        review_complete=bool(review and review.is_complete),
        has_plan=has_plan,
        role_labels=tuple(sorted(labels.items())),
    )


def next_move_blockers(release: Release, facts: rules.ReleaseFacts | None = None) -> list:
    """Blockers of the next forward move; empty for a release at the end of its road."""
    to = rules.next_phase(release.phase)
    if to is None:
        return []
    return rules.move_blockers(facts or release_facts(release), to)


def release_status(release: Release) -> dict[str, Any]:
    """The status document clients rely on (PRODUCT.md, REST API)."""
    from apps.rollouts.models import Wave

    facts = release_facts(release)
    tally = rules.signoff_tally(facts)
    waves = list(
        Wave.objects.filter(plan__release=release)
        .select_related("environment")
        .order_by("position")
    )
    return {
        "id": release.pk,
        "name": release.name,
        "version": release.version,
        "application": release.application.name,
        "phase": release.phase,
        "phase_entered_at": release.phase_entered_at,
        "blockers": [b.as_dict() for b in next_move_blockers(release, facts)],
        "signoffs": {
            "required": tally.required,
            "approved": tally.approved,
            "rejected": tally.rejected,
            "stale": tally.stale,
        },
        "waves": [
            {
                "id": w.pk,
                "name": w.name,
                "environment": w.environment.name,
                "percentage": w.percentage,
                "state": w.state,
                "scheduled_at": w.scheduled_at,
                "started_at": w.started_at,
                "finished_at": w.finished_at,
            }
            for w in waves
        ],
        "progress": rules.progress(release.phase, facts.waves),
        "updated_at": release.updated_at,
    }
