import json
import logging
from collections.abc import Mapping
from datetime import UTC
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.encoding import force_str

from .chain import (
    GENESIS,
    HASHED,
    Anchor,
    checkpoint_key,
    checkpoint_signature,
    event_digest,
    hashed_at,
    signed_by,
    walk,
)
from .models import AuditCheckpoint, AuditEvent

logger = logging.getLogger(__name__)

# Any constant will do: it names the lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x52445F4155444954


class AuditBatch:
    """Events of many changes in one transaction, joined to the chain together by `flush`, just
    before that transaction commits: one chain lock and one INSERT, and the chain lock held only
    from there to the commit. The caller makes one and hands it to every writer that records
    in that transaction, so the events keep the order of the changes; events appended directly
    meanwhile would go ahead of them. What a batch holds is not undone by a rolled-back
    savepoint: writers that record into it run with none (the engine's steps)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.releases: set[int] = set()  # releases whose revision was bumped for these events

    def flush(self) -> None:
        events, self.events = self.events, []
        if events:
            _append(events)


Snapshot = Mapping[str, object]


def _jsonable(value: Snapshot | None) -> dict[str, object] | None:
    # Round-trip so the stored value and the hashed value are the same thing.
    return None if value is None else json.loads(json.dumps(value, default=str))


def audit_record(
    *,
    actor: User | None,
    verb: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    release_id: int | None = None,
    before: Snapshot | None = None,
    after: Snapshot | None = None,
    reason: str = "",
    batch: AuditBatch | None = None,
) -> AuditEvent:
    """Append one event to the chain; must run inside the transaction that made the change.
    With `batch`, the event joins the chain when the batch is flushed, in that transaction.
    An actor of None is recorded as the system."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the writing transaction")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    actor_id = actor.pk if actor is not None else None
    event = AuditEvent(
        actor_id=actor_id,
        actor_label=actor.get_username() if actor is not None and actor_id else "system",
        verb=verb,
        object_type=object_type,
        object_id=str(object_id),
        release_id=release_id,
        before=_jsonable(before),
        after=_jsonable(after),
        reason=reason,
    )
    if batch is None:
        _append([event])
    else:
        batch.events.append(event)
    return event


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def _append(events: list[AuditEvent]) -> None:
    """Link the events to the chain's end, in order, under the chain lock, and insert them."""
    _lock_chain()
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


# --- checkpoints and the check -----------------------------------------------------------------


class ChainTampered(Exception):
    """The chain no longer holds what its latest checkpoint vouches for."""


class ChainCheck(NamedTuple):
    checked: int
    broken: AuditEvent | None
    why: str

    @property
    def ok(self) -> bool:
        return not self.why


def signing_keys() -> list[bytes]:
    """The checkpoint key first, then those it may have been before (SECRET_KEY_FALLBACKS)."""
    if settings.RELEASEDECK_AUDIT_KEY:
        return [checkpoint_key(settings.RELEASEDECK_AUDIT_KEY)]
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [checkpoint_key(force_str(k)) for k in secrets]


def anchor_of(checkpoint: AuditCheckpoint) -> Anchor:
    return Anchor(
        at=hashed_at(checkpoint.at),
        last_id=checkpoint.last_id,
        count=checkpoint.count,
        head_hash=checkpoint.head_hash,
        signature=checkpoint.signature,
    )


def audit_checkpoint() -> AuditCheckpoint:
    """Sign the chain's head (count and hash) so that later removals from its end, or a
    rewrite with recomputed hashes, are detected. Extends the latest checkpoint, whose head
    must still be there unchanged; returns it when nothing was appended since."""
    with transaction.atomic():
        _lock_chain()  # the head cannot move while it is counted and signed
        head = AuditEvent.objects.order_by("-id").values("id", "hash").first()
        head_id, head_hash = (head["id"], head["hash"]) if head else (0, GENESIS)
        latest = AuditCheckpoint.objects.order_by("-id").first()
        if latest is not None:
            kept = (
                latest.last_id == 0
                or AuditEvent.objects.filter(pk=latest.last_id, hash=latest.head_hash).exists()
            )
            if not signed_by(anchor_of(latest), signing_keys()) or not kept:
                logger.error("audit chain does not match checkpoint #%s", latest.pk)
                raise ChainTampered(
                    f"The chain no longer matches checkpoint #{latest.pk}; run audit_verify."
                )
            if latest.last_id == head_id:
                return latest
            count = latest.count + (
                AuditEvent.objects.filter(id__gt=latest.last_id, id__lte=head_id).count()
            )
        else:
            count = AuditEvent.objects.filter(id__lte=head_id).count()
        at = timezone.now().astimezone(UTC)
        signature = checkpoint_signature(
            signing_keys()[0], at=hashed_at(at), last_id=head_id, count=count, head_hash=head_hash
        )
        checkpoint = AuditCheckpoint.objects.create(
            at=at, last_id=head_id, count=count, head_hash=head_hash, signature=signature
        )
    # In the logs as well: a copy of the anchor outside the database.
    logger.info(
        "audit checkpoint",
        extra={"checkpoint": anchor_of(checkpoint).as_dict()},
    )
    return checkpoint


def latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-id").first()


def audit_verify() -> ChainCheck:
    """Walk the chain in order and hold its head against the latest checkpoint
    (`latest_checkpoint`); return (events checked, first broken event or None, why)."""
    checkpoint = latest_checkpoint()
    anchor = None
    if checkpoint is not None:
        anchor = anchor_of(checkpoint)
        if not signed_by(anchor, signing_keys()):
            why = f"the latest checkpoint (#{checkpoint.pk}) does not carry a valid signature"
            return ChainCheck(0, None, why)
    columns = ["id", "hash", *("actor_label" if f == "actor" else f for f in HASHED)]
    rows = AuditEvent.objects.order_by("id").values_list(*columns).iterator(chunk_size=2000)
    names = ["id", "hash", *HASHED]
    verdict = walk((dict(zip(names, row, strict=True)) for row in rows), anchor=anchor)
    broken = None
    if verdict.broken_id is not None:
        broken = AuditEvent.objects.filter(pk=verdict.broken_id).first()
    return ChainCheck(verdict.checked, broken, verdict.why)
