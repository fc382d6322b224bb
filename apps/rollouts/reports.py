"""What deploy tools report about the calls they received.

A report is authenticated by the deploy tool, not by a person: signed with the environment's
deploy secret as the outgoing call was, or sent to the call's `report_url` with its token.
Only the call the wave waits on may change anything; any other report is kept as evidence
and refused.
"""

import hmac
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.core.errors import Blocker, Conflict, NotFound, ServiceError
from apps.releases.models import Release
from apps.releases.services import record_change

from . import delivery, queue
from .calls import call_move
from .locking import LockedWave, lock
from .models import CallState, DeployAction, DeployCall, Wave, WaveState


class NotAuthenticated(ServiceError):
    status = 401


@dataclass(frozen=True)
class ReportCredentials:
    """What a deploy tool proves itself with: the request signed with the environment's deploy
    secret (as the call it received was), or the token from the call's `report_url`."""

    body: bytes = b""
    timestamp: str = ""
    signature: str = ""
    token: str = ""


def _call_key(key: str | None) -> uuid.UUID | None:
    """The call key a report names, if it is one (the report is not yet read for its shape)."""
    if not key:
        return None
    try:
        return uuid.UUID(key.strip())
    except ValueError:
        return None


def deploy_report_authenticate(
    *, wave_id: int, credentials: ReportCredentials, key: str | None = None
) -> str:
    """Check a report's credentials for the wave (401 unless they hold); returns how it was
    authenticated. A report token is good for the call it was made for, the one `key` (as the
    report body has it, unchecked: who asks comes before what they ask) names. No person's
    token counts: a deploy tool holds no operator's rights."""
    from apps.core import signing

    wave = Wave.objects.filter(pk=wave_id).select_related("environment").first()
    if wave is None:
        raise NotFound("No such wave.", field="wave")
    if credentials.signature or credentials.timestamp:
        secret = wave.environment.deploy_secret
        if secret and signing.verify(
            credentials.body, secret, credentials.timestamp, credentials.signature
        ):
            return "signature"
        raise NotAuthenticated(
            "The signature does not match the environment's deploy secret, or its timestamp "
            "is more than 5 minutes away."
        )
    if credentials.token:
        parsed = _call_key(key)
        call = DeployCall.objects.filter(wave=wave, key=parsed).first() if parsed else None
        if call is not None and hmac.compare_digest(
            credentials.token.encode(), delivery.report_token(call).encode()
        ):
            return "token"
        raise NotAuthenticated("The report token is not this call's.")
    raise NotAuthenticated(
        "Sign the report with the environment's deploy secret (X-ReleaseDeck-Timestamp, "
        "X-ReleaseDeck-Signature) or use the call's report_url with its token."
    )


def _stale(call: DeployCall, wave: Wave) -> str:
    """Why the call is no longer the one the wave waits on; empty while it is."""
    if call.action == DeployAction.ROLLBACK:
        latest = (
            DeployCall.objects.filter(wave=wave, action=DeployAction.ROLLBACK)
            .order_by("-round")
            .values_list("pk", flat=True)
            .first()
        )
        if latest != call.pk:
            return "A newer rollback of this wave was requested."
        if wave.rollback_requested_at is None:
            return f"The wave's rollback is over; the wave is {wave.state}."
        return ""
    if call.round != wave.deploy_round:
        return "The wave was deployed again since; this call is an earlier round."
    if wave.rollback_requested_at is not None or wave.state == WaveState.ROLLED_BACK:
        return "The wave is being rolled back, or was."
    halted_deploying = wave.state == WaveState.HALTED and wave.paused_from == WaveState.DEPLOYING
    if wave.state != WaveState.DEPLOYING and not halted_deploying:
        return f"The wave is {wave.state}; it no longer waits for this deploy."
    return ""


def deploy_report(
    *,
    wave_id: int,
    status: str,
    key: uuid.UUID,
    credentials: ReportCredentials,
    message: str = "",
    action: str = DeployAction.DEPLOY,
) -> DeployCall:
    """A deploy tool reports on a call (`status` a `ReportStatus`, `action` the call's
    `DeployAction`), authenticated by `credentials`. Idempotent: the same final report twice is
    a no-op. A contradicting final report, or one about a call the wave no longer waits on,
    changes nothing: it is recorded and refused (409)."""
    via = deploy_report_authenticate(wave_id=wave_id, credentials=credentials, key=str(key))
    now = timezone.now()
    with transaction.atomic():
        release, wave = _locked(wave_id)
        call = (
            DeployCall.objects.select_for_update(of=("self",))
            .filter(wave=wave, action=action, key=key)
            .first()
        )
        if call is None:
            raise NotFound(f"No {action} call of this wave has this key.", field="key")
        final = {"succeeded": CallState.SUCCEEDED, "failed": CallState.FAILED}
        if call.state in (CallState.SUCCEEDED, CallState.FAILED):
            if final.get(status) == call.state:
                return call
            refusal = f"This call was already reported {call.state}."
        else:
            refusal = _stale(call, wave)
        event = {"action": action, "status": status, "message": message, "round": call.round}
        if refusal:
            # Kept as evidence, and answered 409 once it is committed.
            record_change(
                release_id=release.pk,
                actor=None,
                verb="deploy.report_refused",
                obj=call,
                after={**event, "via": via, "call_state": call.state},
                reason=refusal,
            )
        else:
            if status in final:
                call_move(call, final[status], reported_at=now, report_message=message)
            else:
                call.report_message = message
                call.save(update_fields=["report_message", "updated_at"])
            record_change(
                release_id=release.pk,
                actor=None,
                verb=f"deploy.reported_{status}",
                obj=call,
                after={**event, "via": via},
                reason=message,
            )
            if status in final:
                queue.step_soon(wave, now)
    if refusal:
        raise Conflict(
            refusal, blockers=[Blocker("report_not_current", f"{refusal} Nothing was changed.")]
        )
    return call


def _locked(wave_id: int) -> tuple[Release, LockedWave]:
    locked = lock(wave_id)
    if locked is None:
        raise NotFound("No such wave.", field="wave")
    return locked
