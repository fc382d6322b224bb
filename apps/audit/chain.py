"""The hash chain: pure functions, shared by the writer and the verifier."""

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def event_digest(
    *,
    prev_hash: str,
    at: datetime,
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
            at.isoformat(timespec="microseconds"),
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
