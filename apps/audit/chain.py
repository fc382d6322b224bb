"""The hash chain and its signed checkpoints: pure functions, shared by the writer, the
database check and the check of an export file. The recipe is documented in README.md (Audit);
docs/audit_verify.py repeats it with the standard library only."""

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
# What an event's hash covers, in this order, by the names of the export ("actor" is the
# username or "system", stored as actor_label).
HASHED = (
    "prev_hash",
    "at",
    "actor_id",
    "actor",
    "verb",
    "object_type",
    "object_id",
    "release_id",
    "before",
    "after",
    "reason",
)
EXPORT_FORMAT = "releasedeck.audit-export/1"
_CHECKPOINT_SALT = "releasedeck.audit.checkpoint"


def hashed_at(at: datetime | str) -> str:
    """An event's time as the hash sees it: UTC, ISO 8601, microseconds, `+00:00`."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_digest(
    *,
    prev_hash: str,
    at: datetime | str,
    actor_id: int | None,
    actor_label: str,
    verb: str,
    object_type: str,
    object_id: str,
    release_id: int | None,
    before: Any,
    after: Any,
    reason: str,
) -> str:
    payload = json.dumps(
        [
            prev_hash,
            hashed_at(at),
            actor_id,
            actor_label,
            verb,
            object_type,
            object_id,
            release_id,
            before,
            after,
            reason,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def digest_of(event: Mapping[str, Any]) -> str:
    """The hash an event (a mapping holding at least HASHED) must carry."""
    fields = {name: event[name] for name in HASHED}
    return event_digest(actor_label=fields.pop("actor"), **fields)


@dataclass(frozen=True)
class Anchor:
    """A signed statement of the chain's head: `count` events, the last being `last_id` with
    `head_hash`, as they stood at `at`."""

    at: str
    last_id: int
    count: int
    head_hash: str
    signature: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "last_id": self.last_id,
            "count": self.count,
            "head_hash": self.head_hash,
            "signature": self.signature,
        }


def checkpoint_key(secret: str) -> bytes:
    """The signing key derived from a secret the database does not hold."""
    return hashlib.sha256((_CHECKPOINT_SALT + secret).encode()).digest()


def checkpoint_signature(key: bytes, *, at: str, last_id: int, count: int, head_hash: str) -> str:
    message = json.dumps([_CHECKPOINT_SALT, at, last_id, count, head_hash], separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signed_by(anchor: Anchor, keys: Iterable[bytes]) -> bool:
    fields = {k: getattr(anchor, k) for k in ("at", "last_id", "count", "head_hash")}
    return any(
        hmac.compare_digest(checkpoint_signature(key, **fields), anchor.signature) for key in keys
    )


@dataclass(frozen=True)
class Verdict:
    """What a walk found: events checked, the first event in doubt (its id) and why."""

    checked: int
    broken_id: int | None = None
    why: str = ""

    @property
    def ok(self) -> bool:
        return not self.why


def walk(
    events: Iterable[Mapping[str, Any]], *, linked: bool = True, anchor: Anchor | None = None
) -> Verdict:
    """Check events in chain order: each one's hash over its content, and with `linked` each
    one's link to the one before (from the genesis). With `anchor`, the chain must reach the
    anchored event with the anchored hash and count, which a removal from the end or a
    rewrite that recomputed the hashes cannot fake without the signing key."""
    prev_hash, checked, last_id = GENESIS, 0, None
    goal = anchor if anchor is not None and anchor.last_id else None  # until reached
    for event in events:
        if goal is not None and event["id"] > goal.last_id:
            return Verdict(
                checked,
                event["id"],
                f"the checkpoint of {goal.at} ends at event #{goal.last_id}, "
                "which is missing before this one",
            )
        if linked and event["prev_hash"] != prev_hash:
            return Verdict(checked, event["id"], "its link to the previous event does not match")
        if digest_of(event) != event["hash"]:
            return Verdict(checked, event["id"], "its content does not match its hash")
        prev_hash, last_id = event["hash"], event["id"]
        checked += 1
        if goal is not None and event["id"] == goal.last_id:
            if event["hash"] != goal.head_hash or checked != goal.count:
                return Verdict(
                    checked,
                    event["id"],
                    f"it does not match the signed checkpoint of {goal.at} ({goal.count} "
                    "events up to here): the events up to it were rewritten or removed",
                )
            goal = None
    if goal is not None:
        return Verdict(
            checked,
            last_id,
            f"the chain ends here, but the signed checkpoint of {goal.at} counts {goal.count} "
            f"events up to #{goal.last_id}: events were removed from the end",
        )
    return Verdict(checked)


def verify_export(document: Any, *, keys: Iterable[bytes] = ()) -> tuple[bool, list[str]]:
    """Check a JSON export from the file alone: every event's hash over its fields and, for a
    complete export, every link from the genesis and the head against the embedded checkpoint
    (its signature too, given the keys). Returns (passed, lines to show, the verdict last)."""
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        return False, [f"Not a ReleaseDeck audit export (expected format {EXPORT_FORMAT})."]
    events = document.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return False, ["The export holds no list of events."]
    missing = [(e.get("id"), f) for e in events for f in ("id", "hash", *HASHED) if f not in e]
    if missing:
        return False, [f"Event #{missing[0][0]} lacks the field {missing[0][1]!r}."]
    if document.get("checkpoint_refused"):
        return False, [f"The export was not signed: {document['checkpoint_refused']}"]
    raw = document.get("checkpoint")
    anchor = None
    if raw is not None:
        try:
            anchor = Anchor(
                at=str(raw["at"]),
                last_id=int(raw["last_id"]),
                count=int(raw["count"]),
                head_hash=str(raw["head_hash"]),
                signature=str(raw["signature"]),
            )
        except (KeyError, TypeError, ValueError):
            return False, ["The export's checkpoint is unreadable."]
    lines: list[str] = []
    complete = document.get("complete") is True
    keys = list(keys)
    if anchor is not None and keys and not signed_by(anchor, keys):
        return False, ["The checkpoint's signature does not match this deployment's key."]
    try:
        verdict = walk(events, linked=complete, anchor=anchor if complete else None)
    except (TypeError, ValueError) as exc:
        return False, [f"An event is unreadable: {exc}."]
    if not verdict.ok:
        return False, [
            f"Export broken at event #{verdict.broken_id}: {verdict.why}. "
            f"{verdict.checked} event(s) before it are intact."
        ]
    if not complete:
        lines.append(
            f"A filtered export ({document.get('filters')}): each event's own hash was checked; "
            "the links between events and the checkpoint need the complete export."
        )
    elif anchor is None:
        lines.append("No checkpoint in the export: removals from its end cannot be detected.")
    elif not keys:
        lines.append("The checkpoint's signature was not checked (no key given).")
    else:
        lines.append(f"The checkpoint of {anchor.at} carries a valid signature.")
    anchored = f", up to the checkpoint of {anchor.at}" if complete and anchor else ""
    lines.append(f"Export intact: {verdict.checked} event(s) verified{anchored}.")
    return True, lines
