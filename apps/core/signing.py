"""HMAC-SHA256 signatures for outbound JSON (deploy hooks, notification webhooks)."""

import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "X-ReleaseDeck-Signature"
TIMESTAMP_HEADER = "X-ReleaseDeck-Timestamp"


def canonical_body(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """`sha256=<hex>` over `<timestamp>.<body>`, so a captured request cannot be replayed later."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(body, secret, timestamp),
    }


def verify(
    body: bytes, secret: str, timestamp: str, signature: str, *, tolerance: int = 300
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(body, secret, ts), signature or "")
