"""Audit exports: the event stream as CSV or JSON, and a release's evidence pack."""

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone

from .chain import EXPORT_FORMAT, hashed_at
from .models import AuditCheckpoint, AuditEvent
from .services import ChainTampered, anchor_of, audit_checkpoint

COLUMNS = [
    "id",
    "at",
    "actor",
    "verb",
    "object_type",
    "object_id",
    "release_id",
    "before",
    "after",
    "reason",
    "prev_hash",
    "hash",
    "actor_id",  # last, so that the columns before it keep their places
]
# Verbs that record a decision someone (or the engine) took, kept in the evidence pack with
# their reasons even when no reason was typed.
DECISION_VERBS = (
    "release.moved",
    "release.override_moved",
    "release.move_refused",
    "signoff.approved",
    "signoff.rejected",
    "checklist.waived",
    "test_case.recorded",
    "wave.state_changed",
    "policy.set",
)
CHUNK = 2000


def event_dict(event: AuditEvent) -> dict[str, Any]:
    """An event with every field its hash covers, `at` written exactly as hashed."""
    return {
        "id": event.pk,
        "at": hashed_at(event.at),
        "actor": event.actor_label,
        "actor_id": event.actor_id,
        "verb": event.verb,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "release_id": event.release_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)
    elif value is None:
        return ""
    elif hasattr(value, "isoformat"):
        return value.isoformat()
    # A cell starting with these is a formula to a spreadsheet; quoting keeps it text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_rows(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """Stream the events as CSV lines, header first."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for event in events.iterator(chunk_size=CHUNK):
        row = event_dict(event)
        yield writer.writerow([_cell(row[c]) for c in COLUMNS])


def json_chunks(
    events: QuerySet[AuditEvent],
    *,
    filters: dict[str, str] | None = None,
    checkpoint: AuditCheckpoint | None = None,
    refused: str = "",
) -> Iterator[str]:
    """Stream the events as one JSON document that can be checked with nothing but itself:
    the events (up to the checkpoint's head, when there is one), what filtered them, and the
    signed checkpoint written for this export (see README.md, Audit)."""
    if checkpoint is not None:
        events = events.filter(id__lte=checkpoint.last_id)
    head = {
        "format": EXPORT_FORMAT,
        "exported_at": hashed_at(timezone.now()),
        "filters": filters or {},
        "complete": not filters,
        "checkpoint": anchor_of(checkpoint).as_dict() if checkpoint is not None else None,
    }
    if refused:
        head["checkpoint_refused"] = refused
    yield json.dumps(head)[:-1] + ', "events": ['
    first = True
    for event in events.iterator(chunk_size=CHUNK):
        yield ("\n" if first else ",\n") + json.dumps(event_dict(event), cls=DjangoJSONEncoder)
        first = False
    yield "]}\n"


def export_checkpoint() -> tuple[AuditCheckpoint | None, str]:
    """The checkpoint an export carries, written now; or why none could be signed."""
    try:
        return audit_checkpoint(), ""
    except ChainTampered as exc:
        return None, str(exc)


def _user(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def evidence_pack(release: Any) -> dict[str, Any]:
    """Everything an auditor asks about one release: who signed what content, which gates held
    or were overridden and why, what was checked and what the checks saw."""
    from apps.releases import rules
    from apps.releases.models import ChecklistItem, Defect, PhaseMove, TestCase
    from apps.releases.selectors import next_move_blockers, release_facts
    from apps.rollouts.models import Check, CheckResult, Wave
    from apps.signoffs.models import SignOff, SignoffRequirement

    now = timezone.now()
    facts = release_facts(release, now=now)
    expiry = release.signoff_expiry_days

    def is_current(signoff: Any) -> bool:
        if signoff.fingerprint != release.fingerprint:
            return False
        return expiry is None or now - signoff.created_at <= timedelta(days=expiry)

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
                "current": is_current(s),
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
