"""Slack-compatible chat: the Block Kit messages we post, and the check of the requests its
buttons send back.

Slack signs each interaction request with the app's signing secret: `X-Slack-Signature:
v0=<hex HMAC-SHA256(secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)>`. A request
older than five minutes is refused, and so is one whose signature was seen before (a replay
within that window), remembered in the cache for as long as it could be accepted.
"""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from apps.core.errors import ServiceError
from apps.releases.models import Release

from .facts import WaveFacts

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
TOLERANCE = 300
# Rows for the configured incoming webhook carry this as their recipient, not its URL: the
# URL is a credential, read from the settings when the message is sent.
SLACK_WEBHOOK = "SLACK_WEBHOOK"
EVENTS = frozenset({"signoff.requested", "wave.halted"})
APPROVE, REJECT, OPEN = "approve", "reject", "open"
COMMENT_BLOCK = COMMENT_ACTION = "comment"


def enabled() -> bool:
    return bool(settings.RELEASEDECK_SLACK_WEBHOOK_URL)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class Unverified(ServiceError):
    """The request is not Slack's, is too old, or was seen before; the message says which."""

    status = 401


def verify_request(*, body: bytes, timestamp: str, signature_header: str) -> None:
    """Raise Unverified unless the request carries Slack's signature over this body, made in
    the last five minutes, and not seen before."""
    secret = settings.RELEASEDECK_SLACK_SIGNING_SECRET
    if not secret:
        raise Unverified("Slack interactions are not configured here.")
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        raise Unverified("The request carries no valid X-Slack-Request-Timestamp.") from None
    if abs(time.time() - sent_at) > TOLERANCE:
        raise Unverified("The request is more than five minutes old (or from the future).")
    if not hmac.compare_digest(signature(secret, timestamp, body), signature_header or ""):
        raise Unverified("The request's X-Slack-Signature does not match its body.")
    # Checked after the signature, so nobody can fill the cache with made-up signatures.
    if not cache.add(f"slack:seen:{signature_header}", 1, timeout=2 * TOLERANCE + 60):
        raise Unverified("This request was received before; a replay changes nothing.")


@dataclass(frozen=True)
class Button:
    """What an Approve/Reject button is about: a release (or one of its waves) and the content
    the message was sent for."""

    release_id: int
    wave_id: int | None
    fingerprint: str

    def value(self) -> str:
        return json.dumps({"release": self.release_id, "wave": self.wave_id, "f": self.fingerprint})

    @classmethod
    def parse(cls, value: str) -> "Button | None":
        try:
            data = json.loads(value)
            release, wave, fingerprint = data["release"], data.get("wave"), data["f"]
        except (TypeError, ValueError, KeyError):
            return None
        if not isinstance(release, int) or not isinstance(fingerprint, str):
            return None
        if wave is not None and not isinstance(wave, int):
            return None
        return cls(release_id=release, wave_id=wave, fingerprint=fingerprint)


def _url(name: str, release_id: int) -> str:
    return settings.RELEASEDECK_PUBLIC_URL.rstrip("/") + reverse(name, args=[release_id])


def _text(kind: str, text: str) -> dict[str, Any]:
    return {"type": kind, "text": text}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message_for(
    *,
    event: str,
    release: Release,
    wave: WaveFacts | None,
    text: str,
    roles: list[str],
) -> dict[str, Any]:
    """The Block Kit message an event posts to the incoming webhook."""
    name = _escape(release.name)
    if event == "wave.halted":
        env = wave.environment.name if wave is not None else ""
        summary = f"Wave {wave.name} ({env}) of {release.name} halted" if wave else "A wave halted"
        return {
            "text": summary,
            "blocks": [
                {
                    "type": "section",
                    "text": _text(
                        "mrkdwn",
                        f":octagonal_sign: *{_escape(summary)}*"
                        + (f"\n{_escape(text)}" if text else ""),
                    ),
                },
                {
                    "type": "actions",
                    "block_id": "halt",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": OPEN,
                            "text": _text("plain_text", "Open the rollout console"),
                            "url": _url("rollouts:console", release.pk),
                        }
                    ],
                },
            ],
        }
    asked = " and ".join(roles) or "its approvers"
    target = f"wave {wave.name} of {release.name}" if wave is not None else release.name
    summary = f"Sign-off requested: {target} ({asked})"
    button = Button(
        release_id=release.pk,
        wave_id=wave.pk if wave is not None else None,
        fingerprint=release.fingerprint,
    )
    return {
        "text": summary,
        "blocks": [
            {
                "type": "section",
                "text": _text(
                    "mrkdwn",
                    f"*{_escape(summary)}*\n"
                    f"Version `{_escape(release.version)}`, build `{_escape(release.build_ref or '-')}`"
                    + (f"\n{_escape(text)}" if text else f"\n{name} waits for your verdict."),
                ),
            },
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "optional": True,
                "label": _text("plain_text", "Comment (needed to reject)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": COMMENT_ACTION,
                    "multiline": True,
                    "max_length": 3000,
                },
            },
            {
                "type": "actions",
                "block_id": "verdict",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE,
                        "style": "primary",
                        "text": _text("plain_text", "Approve"),
                        "value": button.value(),
                    },
                    {
                        "type": "button",
                        "action_id": REJECT,
                        "style": "danger",
                        "text": _text("plain_text", "Reject"),
                        "value": button.value(),
                    },
                    {
                        "type": "button",
                        "action_id": OPEN,
                        "text": _text("plain_text", "Open the sign-off page"),
                        "url": _url("signoffs:page", release.pk),
                    },
                ],
            },
        ],
    }


def outcome_message(original: dict[str, Any], outcome: str) -> dict[str, Any]:
    """The posted message with one more verdict written under it. Its buttons stay: the
    request is usually for several approvers, and a button that can no longer decide for
    someone answers them why."""
    blocks = list(original.get("blocks", []))
    blocks.append({"type": "context", "elements": [_text("mrkdwn", _escape(outcome))]})
    text = str(original.get("text", "")) or outcome
    return {"replace_original": True, "text": text, "blocks": blocks}


def ephemeral(text: str) -> dict[str, Any]:
    """An answer only the person who pressed the button sees; the message stays as it was."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text}
