"""A release's evidence pack: what an auditor asks about one release, with the audit events
that record its decisions. Kept apart from the chain and the stream exports, which know only
the audit event."""

from typing import Any

from django.db.models import Q
from django.utils import timezone

from apps.audit.exports import event_dict
from apps.audit.models import AuditEvent
from apps.audit.verbs import DECISION_VERBS
from apps.releases import rules
from apps.releases.models import ChecklistItem, Defect, PhaseMove, Release, TestCase
from apps.releases.selectors import next_move_blockers, release_facts
from apps.rollouts.models import Check, CheckResult, Wave
from apps.signoffs.models import SignOff, SignoffRequirement


def _user(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def evidence_pack(release: Release) -> dict[str, Any]:
    """Everything an auditor asks about one release: who signed what content, which gates held
    or were overridden and why, what was checked and what the checks saw."""
    now = timezone.now()
    facts = release_facts(release, now=now)

    events = AuditEvent.objects.filter(release_id=release.pk).order_by("id")
    waves = list(
        Wave.objects.filter(plan__release=release)
        .select_related("environment")
        .order_by("position")
    )
    checks: dict[int, list[Check]] = {}
    for check in Check.objects.filter(wave__in=waves).order_by("id"):
        checks.setdefault(check.wave_id, []).append(check)
    results: dict[int, list[CheckResult]] = {}
    for result in (
        CheckResult.objects.filter(wave__in=waves)
        .select_related("recorded_by")
        .order_by("at", "id")
    ):
        results.setdefault(result.wave_check_id, []).append(result)
    return {
        "generated_at": now,
        "release": {
            "id": release.pk,
            "application": release.application.name,
            "name": release.name,
            "version": release.version,
            "build_ref": release.build_ref,
            "scope": release.scope,
            "fingerprint": release.fingerprint,
            "phase": release.phase,
            "phase_entered_at": release.phase_entered_at,
            "owner": _user(release.owner),
            "created_by": _user(release.created_by),
            "planned_start": release.planned_start,
            "planned_end": release.planned_end,
        },
        "signoff_policy": {
            "requirements": [
                {"role": role, "count": count}
                for role, count in SignoffRequirement.objects.filter(
                    release=release, wave__isnull=True
                )
                .order_by("role__slug")
                .values_list("role__slug", "count")
            ],
            "expiry_days": release.signoff_expiry_days,
        },
        "signoffs": [
            {
                "signer": s.signer.get_username(),
                "role": s.role.slug,
                "decision": s.decision,
                "comment": s.comment,
                "fingerprint": s.fingerprint,
                "current": _counts_for_content(s, facts),
                "override_reason": s.override_reason,
                "at": s.created_at,
            }
            for s in SignOff.objects.filter(release=release)
            .select_related("signer", "role")
            .order_by("created_at", "id")
        ],
        "gates": {
            "next_move": rules.next_phase(release.phase),
            "blockers": [b.as_dict() for b in next_move_blockers(release, facts)],
            "moves": [
                {
                    "from": m.from_phase,
                    "to": m.to_phase,
                    "state": m.state,
                    "requested_by": _user(m.requested_by),
                    "reason": m.reason,
                    "override": m.override,
                    "blockers": m.blockers,
                    "requested_at": m.created_at,
                    "processed_at": m.processed_at,
                }
                for m in PhaseMove.objects.filter(release=release)
                .select_related("requested_by")
                .order_by("created_at", "id")
            ],
        },
        "checklist": [
            {
                "environment": i.environment.name,
                "area": i.area,
                "title": i.title,
                "status": i.status,
                "waive_reason": i.waive_reason,
                "completed_by": _user(i.completed_by),
                "completed_at": i.completed_at,
            }
            for i in ChecklistItem.objects.filter(release=release).select_related(
                "environment", "completed_by"
            )
        ],
        "test_cases": [
            {
                "title": t.title,
                "status": t.status,
                "note": t.note,
                "recorded_by": _user(t.recorded_by),
                "recorded_at": t.recorded_at,
            }
            for t in TestCase.objects.filter(release=release).select_related("recorded_by")
        ],
        "defects": [
            {
                "title": d.title,
                "severity": d.severity,
                "status": d.status,
                "resolution": d.resolution,
                "closed_at": d.closed_at,
            }
            for d in Defect.objects.filter(release=release)
        ],
        "waves": [
            {
                "name": w.name,
                "environment": w.environment.name,
                "percentage": w.percentage,
                "state": w.state,
                "state_reason": w.state_reason,
                "skip_reason": w.skip_reason,
                "started_at": w.started_at,
                "finished_at": w.finished_at,
                "checks": [
                    {
                        "name": c.name,
                        "kind": c.kind,
                        "config": c.config,
                        "results": [
                            {
                                "at": r.at,
                                "ok": r.ok,
                                "value": r.value,
                                "detail": r.detail,
                                "recorded_by": _user(r.recorded_by),
                            }
                            for r in results.get(c.pk, [])
                        ],
                    }
                    for c in checks.get(w.pk, [])
                ],
            }
            for w in waves
        ],
        "decisions": [
            event_dict(e) for e in events.filter(~Q(reason="") | Q(verb__in=DECISION_VERBS))
        ],
        "audit_trail": {
            "events": events.count(),
            "first_hash": events.values_list("hash", flat=True).first(),
            "last_hash": events.order_by("-id").values_list("hash", flat=True).first(),
        },
    }


def _counts_for_content(signoff: SignOff, facts: rules.ReleaseFacts) -> bool:
    """Whether the sign-off is for today's content and unexpired, by the rule the gate uses.
    The pack's `current` has never asked whether the signer still holds the role, so that is
    left at its default."""
    fact = signoff.fact()
    return rules.is_current(fact, facts)
