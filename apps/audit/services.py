import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from .chain import GENESIS, event_digest
from .models import AuditEvent

# Any constant will do: it names the lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x52445F4155444954


@dataclass
class _Batch:
    """What `audit_batch` holds: the savepoint depth it began at, the events recorded outside
    any savepoint opened since and not yet appended (`held`), and those appended early, inside
    such a savepoint, that a rollback of it would take with it (`placed`)."""

    depth: int
    held: list[AuditEvent] = field(default_factory=list)
    placed: list[AuditEvent] = field(default_factory=list)

    def release(self, *events: AuditEvent) -> list[AuditEvent]:
        """Everything still to be appended before `events`, oldest first: earlier events a
        rolled-back savepoint took away, then the held ones."""
        lost: list[AuditEvent] = []
        if self.placed:
            kept = set(
                AuditEvent.objects.filter(pk__in=[e.pk for e in self.placed]).values_list(
                    "pk", flat=True
                )
            )
            lost = [e for e in self.placed if e.pk not in kept]
            self.placed = [e for e in self.placed if e.pk in kept]
            for event in lost:
                event.pk = None  # inserted again, as a new row
        outer = lost + self.held
        self.held = []
        return [*outer, *events]


_batched: ContextVar[_Batch | None] = ContextVar("audit_batched", default=None)


def in_savepoint_since(depth: int) -> bool:
    """Whether a savepoint opened since `depth` is still open: what is written in it may be
    rolled back on its own, so it must not be held back for the enclosing transaction."""
    return any(sid is not None for sid in transaction.get_connection().savepoint_ids[depth:])


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
    """Append one event to the chain; must run inside the transaction that made the change.
    Inside `audit_batch` the event is appended when the batch ends, in the same transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the writing transaction")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    event = AuditEvent(
        actor_id=actor_id,
        actor_label=actor.get_username() if actor_id else "system",
        verb=verb,
        object_type=object_type,
        object_id=str(object_id),
        release_id=release_id,
        before=_jsonable(before),
        after=_jsonable(after),
        reason=reason,
    )
    batch = _batched.get()
    if batch is None:
        _append([event])
    elif in_savepoint_since(batch.depth):
        # Now, so that it goes if its savepoint is rolled back; what was held back goes first,
        # so that the chain keeps the order of the changes.
        events = batch.release(event)
        _append(events)
        batch.placed += events[:-1]
    else:
        batch.held.append(event)
    return event


@contextmanager
def audit_batch() -> Iterator[None]:
    """Events recorded inside the block join the chain together as it ends: one chain lock and
    one INSERT for many changes, still inside the transaction that made them (which the block
    must be in). The chain lock is then held only from there to the commit. An event recorded
    inside a savepoint opened in the block is appended at once (ahead of those held back), so
    that it goes if the savepoint is rolled back; the events held back until then are appended
    just before it, and again at the end if that savepoint is rolled back, so the chain keeps
    the order in which the changes were made."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_batch must be used inside the writing transaction")
    if _batched.get() is not None:  # an enclosing batch appends these too
        yield
        return
    batch = _Batch(depth=len(transaction.get_connection().savepoint_ids))
    token = _batched.set(batch)
    try:
        yield
    finally:
        _batched.reset(token)
    events = batch.release()
    if events:
        _append(events)


def _append(events: list[AuditEvent]) -> None:
    """Link the events to the chain's end, in order, under the chain lock, and insert them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    prev_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    prev_hash = prev_hash or GENESIS
    for event in events:
        event.at = timezone.now().astimezone(UTC)
        event.prev_hash = prev_hash
        event.hash = prev_hash = _digest(event)
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        AuditEvent.objects.bulk_create(events)


def _digest(event: AuditEvent) -> str:
    """The hash an event must carry: over its content and its link to the previous event."""
    return event_digest(
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


def audit_verify() -> tuple[int, AuditEvent | None, str]:
    """Walk the chain in order; return (events checked, first broken event or None, why)."""
    prev_hash = GENESIS
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != prev_hash:
            return checked, event, "its link to the previous event does not match"
        if _digest(event) != event.hash:
            return checked, event, "its content does not match its hash"
        prev_hash = event.hash
        checked += 1
    return checked, None, ""
