"""Verify a ReleaseDeck audit export (JSON) with the Python standard library only.

    python audit_verify.py export.json

Checks each event's hash over its fields, each link from the genesis, and the head against the
embedded checkpoint; with RELEASEDECK_AUDIT_KEY (or SECRET_KEY, when no audit key is set) in the
environment, the checkpoint's signature too. Exit status 0 when intact, 1 when not.
"""

import hashlib
import hmac
import json
import os
import sys
from datetime import UTC, datetime


def fail(why: str) -> None:
    print(f"broken {why}")
    sys.exit(1)


FIELDS = "prev_hash at actor_id actor verb object_type object_id release_id before after reason"
doc = json.load(open(sys.argv[1], encoding="utf-8"))
events, cp, prev = doc["events"], doc.get("checkpoint"), "0" * 64
if doc.get("checkpoint_refused"):
    fail(f"export: it was not signed ({doc['checkpoint_refused']})")
for n, e in enumerate(events, 1):
    e["at"] = datetime.fromisoformat(e["at"]).astimezone(UTC).isoformat(timespec="microseconds")
    body = json.dumps(
        [e[f] for f in FIELDS.split()], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    if hashlib.sha256(body.encode()).hexdigest() != e["hash"] or (
        doc["complete"] and e["prev_hash"] != prev
    ):
        fail(f"at event #{e['id']}: its hash or its link does not match")
    prev = e["hash"]
    if (
        doc["complete"]
        and cp
        and e["id"] == cp["last_id"]
        and (e["hash"] != cp["head_hash"] or n != cp["count"])
    ):
        fail(f"at event #{e['id']}: it does not match the checkpoint")
if doc["complete"] and cp and cp["last_id"] and not any(e["id"] == cp["last_id"] for e in events):
    fail(f"event #{cp['last_id']} of the checkpoint is missing")
secret = os.environ.get("RELEASEDECK_AUDIT_KEY") or os.environ.get("SECRET_KEY")
if cp and secret:
    key = hashlib.sha256(("releasedeck.audit.checkpoint" + secret).encode()).digest()
    message = json.dumps(
        ["releasedeck.audit.checkpoint", cp["at"], cp["last_id"], cp["count"], cp["head_hash"]],
        separators=(",", ":"),
    )
    if not hmac.compare_digest(
        hmac.new(key, message.encode(), hashlib.sha256).hexdigest(), cp["signature"]
    ):
        fail("the checkpoint's signature does not match the key")
scope = (
    "complete, links and checkpoint checked"
    if doc["complete"]
    else "filtered: each event's own hash checked"
)
print(
    f"intact: {len(events)} event(s) ({scope}{'' if cp and secret else '; signature not checked'})"
)
