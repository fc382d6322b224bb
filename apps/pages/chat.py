"""A button pressed in a Slack message: who pressed it (only through an explicit ChatIdentity),
what it is about, and the verdict, given through the same writers and rules as on the web.
Every answer goes back to the message's `response_url` through the outbox, after commit."""

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import ServiceError
from apps.notifications import slack
from apps.notifications.models import ChatIdentity, ChatProvider
from apps.notifications.outbox import chat_reply
from apps.releases.models import Release
from apps.releases.services import get_release
from apps.rollouts.models import Wave
from apps.rollouts.wave_signoffs import wave_signoff_give
from apps.signoffs.models import Decision, SignOff
from apps.signoffs.services import signoff_give

EVENT = "chat.answer"


class Malformed(ServiceError):
    """A signed request whose payload is not a Slack interaction we can read (400)."""


@dataclass(frozen=True)
class Interaction:
    user_id: str
    action_id: str
    value: str
    response_url: str
    comment: str
    message: dict[str, Any]


def interaction_parse(body: bytes) -> Interaction:
    """The first action of a `block_actions` payload (`payload=<json>`, form-encoded)."""
    try:
        form = urllib.parse.parse_qs(body.decode(), strict_parsing=True)
        payload = json.loads(form["payload"][0])
        action = payload["actions"][0]
        user_id = payload["user"]["id"]
        state = payload.get("state", {}).get("values", {})
        comment = state.get(slack.COMMENT_BLOCK, {}).get(slack.COMMENT_ACTION, {}).get("value")
        interaction = Interaction(
            user_id=str(user_id),
            action_id=str(action.get("action_id", "")),
            value=str(action.get("value", "")),
            response_url=str(payload.get("response_url", "")),
            comment=str(comment or ""),
            message=payload.get("message") or {},
        )
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise Malformed("The body is not a Slack interaction payload.", field="payload") from None
    if not isinstance(interaction.message, dict):
        raise Malformed("The interaction's message is not an object.", field="payload")
    return interaction


@dataclass(frozen=True)
class Outcome:
    """What a press came to: the answer, and when it decided nothing, why (a stable code)."""

    answer: str
    refused: str = ""  # "", or not_linked, unknown, stale, decided, refused
    release_id: int | None = None
    actor: User | None = None


def slack_interaction(interaction: Interaction) -> str:
    """Act on a pressed Approve/Reject button and answer in the message; returns the answer.
    Any other action (a button that only opens a page) needs none. A press that decides
    nothing is an audit event, like a refused use of a mailed link."""
    if interaction.action_id not in (slack.APPROVE, slack.REJECT):
        return ""
    with transaction.atomic():
        outcome = _decide(interaction)
        if outcome.refused:
            audit_record(
                actor=outcome.actor,
                verb="signoff.chat_refused",
                object_type="notifications.chatidentity",
                object_id=f"slack:{interaction.user_id}"[:64],
                release_id=outcome.release_id,
                after={
                    "code": outcome.refused,
                    "decision": interaction.action_id,
                    "slack_user": interaction.user_id,
                },
                reason=outcome.answer,
            )
        if interaction.response_url:
            message = (
                slack.ephemeral(outcome.answer)
                if outcome.refused
                else slack.outcome_message(interaction.message, outcome.answer)
            )
            chat_reply(
                url=interaction.response_url,
                message=message,
                release_id=outcome.release_id,
                event=EVENT,
            )
    return outcome.answer


def _decide(interaction: Interaction) -> Outcome:
    """Give the verdict the press asks for, or say why not; a refusal changes nothing."""
    identity = (
        ChatIdentity.objects.select_related("user")
        .filter(provider=ChatProvider.SLACK, external_user_id=interaction.user_id)
        .first()
    )
    if identity is None or not identity.user.is_active:
        return Outcome(
            "Your Slack account is not linked to a ReleaseDeck person, so this changes nothing. "
            "Ask an administrator to link it, or give your verdict on the sign-off page.",
            refused="not_linked",
        )
    user = identity.user
    button = slack.Button.parse(interaction.value)
    if button is None or not Release.objects.filter(pk=button.release_id).exists():
        return Outcome(
            "This button is not about a release ReleaseDeck knows.", refused="unknown", actor=user
        )
    # The release stays locked from the content check to the verdict: a change of content
    # in between waits for it, and then makes it stale like any other.
    release = get_release(button.release_id, lock=True)

    def refused(answer: str, code: str) -> Outcome:
        return Outcome(answer, refused=code, release_id=release.pk, actor=user)

    if release.fingerprint != button.fingerprint:
        return refused(
            f"{release.name} changed after this message was sent (version, build or scope), so "
            "this button no longer decides anything. Check the new content on the sign-off "
            "page.",
            "stale",
        )
    earlier = _earlier(release, user, button.wave_id)
    if earlier is not None:
        return refused(f"This is already decided: you {_verdict(earlier)}.", "decided")
    decision = Decision.APPROVE if interaction.action_id == slack.APPROVE else Decision.REJECT
    try:
        signoff = _give(release, button.wave_id, user, decision, interaction.comment)
    except ServiceError as exc:
        return refused(f"Not recorded: {exc.message}", "refused")
    who = user.get_full_name() or user.get_username()
    return Outcome(f"{who} {_verdict(signoff)}.", release_id=release.pk, actor=user)


def _give(
    release: Release, wave_id: int | None, user: User, decision: str, comment: str
) -> SignOff:
    if wave_id is None:
        return signoff_give(release_id=release.pk, decision=decision, comment=comment, actor=user)
    if not Wave.objects.filter(pk=wave_id, plan__release=release).exists():
        raise ServiceError("That wave is not part of this release.")
    return wave_signoff_give(wave_id=wave_id, decision=decision, comment=comment, actor=user)[0]


def _earlier(release: Release, user: User, wave_id: int | None) -> SignOff | None:
    signoffs = SignOff.objects.filter(
        release=release, signer=user, fingerprint=release.fingerprint
    ).select_related("role")
    if wave_id is None:
        return signoffs.filter(wave__isnull=True).first()
    return signoffs.filter(wave_id=wave_id).first()


def _verdict(signoff: SignOff) -> str:
    verb = "approved" if signoff.decision == Decision.APPROVE else "rejected"
    when = timezone.localtime(signoff.created_at).strftime("%-d %b %Y, %H:%M %Z")
    return f"{verb} as {signoff.role.name} on {when}"
