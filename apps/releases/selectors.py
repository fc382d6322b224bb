"""Reads that gather what the gates, pages and API need about a release."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.permissions import Action, can, visible_q
from apps.core.errors import NotFound

from . import rules
from .models import Application, ChecklistItem, Defect, PostReleaseReview, Release, TestCase


def releases_visible_to(user: User | AnonymousUser) -> QuerySet[Release]:
    """The releases `user` may see: all of them, or when visibility is restricted those of
    their teams' applications."""
    if not can(user, Action.VIEW):
        return Release.objects.none()
    return Release.objects.filter(visible_q(user, "application__team")).select_related(
        "application", "owner"
    )


def applications_visible_to(user: User | AnonymousUser) -> QuerySet[Application]:
    if not can(user, Action.VIEW):
        return Application.objects.none()
    return Application.objects.filter(visible_q(user, "team"))


def release_get(release_id: int, *, queryset: QuerySet[Release] | None = None) -> Release:
    """One release by its id (from `queryset`, say a locking one); NotFound when there is none."""
    try:
        return (queryset if queryset is not None else Release.objects.all()).get(pk=release_id)
    except Release.DoesNotExist:
        raise NotFound("No such release.", field="release") from None


# A release's waves, reached through its rollout plan.
WAVE = "rollout_plan__waves__"


def _waves_of(release: Release) -> QuerySet[Release]:
    """One row per wave of `release`'s plan, in plan order; read its fields with WAVE + field."""
    return Release.objects.filter(pk=release.pk, rollout_plan__waves__isnull=False).order_by(
        WAVE + "position"
    )


def release_facts(release: Release, *, now: datetime | None = None) -> rules.ReleaseFacts:
    """Read everything the gates need, in a fixed handful of queries. What hangs off a release
    in the apps above this one (its stakeholders, sign-offs and rollout plan) is read through
    the release's own relations, so this app imports none of them."""
    now = now or timezone.now()
    checklist = tuple(
        rules.ChecklistFact(environment=env, title=title, status=status, waive_reason=reason)
        for env, title, status, reason in ChecklistItem.objects.filter(release=release).values_list(
            "environment__name", "title", "status", "waive_reason"
        )
    )
    # A sign-off counts only while its signer still holds the role it was given in.
    stakeholders = list(release.stakeholders.values_list("user_id", "role__slug", "role__name"))
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
        for signer, role, decision, fp, created in release.signoffs.filter(
            wave__isnull=True
        ).values_list("signer_id", "role__slug", "decision", "fingerprint", "created_at")
    )
    requirements = list(
        release.signoff_requirements.filter(wave__isnull=True)
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
        for n, env, st, sr, shadow, rollback_at in _waves_of(release).values_list(
            *(
                WAVE + field
                for field in (
                    "name",
                    "environment__name",
                    "state",
                    "skip_reason",
                    "shadow",
                    "rollback_requested_at",
                )
            )
        )
    )
    has_plan = Release.objects.filter(pk=release.pk, rollout_plan__isnull=False).exists()
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
    facts = release_facts(release)
    tally = rules.signoff_tally(facts)
    # The document's wave keys, each with the field it reads.
    fields = {
        "id": "id",
        "name": "name",
        "environment": "environment__name",
        "percentage": "percentage",
        "state": "state",
        "scheduled_at": "scheduled_at",
        "started_at": "started_at",
        "finished_at": "finished_at",
    }
    rows = _waves_of(release).values_list(*(WAVE + field for field in fields.values()))
    waves = [dict(zip(fields, row, strict=True)) for row in rows]
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
        "waves": waves,
        "progress": rules.progress(release.phase, facts.waves),
        "updated_at": release.updated_at,
    }


def release_subtitle(release: Release) -> str:
    """The release's own name, unless it only repeats the application and version."""
    return "" if release.name == f"{release.application.name} {release.version}" else release.name
