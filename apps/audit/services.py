import json
from datetime import UTC
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from .chain import GENESIS, event_digest
from .models import AuditEvent

# Any constant will do: it names the lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x52445F4155444954


def _jsonable(value: Any) -> Any:
    # Round-trip so the stored value and the hashed value are the same thing.
    return None if value is None else json.loads(json.dumps(value, default=str))


def audit_record(
    *,
    actor: Any,
    verb: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    release_id: int | None = None,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the chain; must run inside the transaction that made the change."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the writing transaction")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    prev_hash = last or GENESIS
    actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    actor_label = actor.get_username() if actor_id else "system"
    at = timezone.now().astimezone(UTC)
    before, after = _jsonable(before), _jsonable(after)
    digest = event_digest(
        prev_hash=prev_hash,
        at=at,
        actor_id=actor_id,
        actor_label=actor_label,
        verb=verb,
        object_type=object_type,
        object_id=str(object_id),
        release_id=release_id,
        before=before,
        after=after,
        reason=reason,
    )
    return AuditEvent.objects.create(
        at=at,
        actor_id=actor_id,
        actor_label=actor_label,
        verb=verb,
        object_type=object_type,
        object_id=str(object_id),
        release_id=release_id,
        before=before,
        after=after,
        reason=reason,
        prev_hash=prev_hash,
        hash=digest,
    )


def audit_verify() -> tuple[int, AuditEvent | None, str]:
    """Walk the chain in order; return (events checked, first broken event or None, why)."""
    prev_hash = GENESIS
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != prev_hash:
            return checked, event, "its link to the previous event does not match"
        expected = event_digest(
            prev_hash=event.prev_hash,
            at=event.at.astimezone(UTC),
            actor_id=event.actor_id,
            actor_label=event.actor_label,
            verb=event.verb,
            object_type=event.object_type,
            object_id=event.object_id,
            release_id=event.release_id,
            before=event.before,
            after=event.after,
            reason=event.reason,
        )
        if expected != event.hash:
            return checked, event, "its content does not match its hash"
        prev_hash = event.hash
        checked += 1
    return checked, None, ""
