"""Audit exports: the event stream as CSV or JSON, checkable from the file alone."""

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
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
