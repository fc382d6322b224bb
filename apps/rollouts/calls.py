"""Deploy calls: the one place that opens a call and the one writer of its state."""

import uuid
from datetime import datetime
from typing import Any

from . import queue
from .models import CallState, DeployCall, Wave

# Which state a call may go to from which: claimed for an attempt, the attempt's outcome, and
# the deploy tool's final report (which may come before the answer to the request does).
MOVES: dict[str, frozenset[str]] = {
    CallState.PENDING: frozenset({CallState.SENDING, CallState.SUCCEEDED, CallState.FAILED}),
    CallState.SENDING: frozenset(
        {CallState.SENT, CallState.PENDING, CallState.SUCCEEDED, CallState.FAILED}
    ),
    CallState.SENT: frozenset({CallState.SUCCEEDED, CallState.FAILED}),
    CallState.SUCCEEDED: frozenset(),
    CallState.FAILED: frozenset(),
}

# What a move may write beside the state: its attempt's bookkeeping and what the tool said.
WITH_STATE = frozenset(
    {
        "attempts",
        "attempt_started_at",
        "next_attempt_at",
        "sent_at",
        "reported_at",
        "response_status",
        "last_error",
        "report_message",
    }
)


def call_open(
    wave: Wave, action: str, round: int, *, now: datetime, deadline: datetime, reason: str
) -> DeployCall:
    """Record the call to the wave's deploy tool and send it once the transaction commits. The
    unique (wave, action, round) constraint refuses a second call for the same round."""
    call = DeployCall.objects.create(
        wave=wave,
        action=action,
        round=round,
        key=uuid.uuid4(),
        next_attempt_at=now,
        deadline_at=deadline,
        reason=reason,
    )
    queue.send_call(call.pk)
    return call


def call_move(call: DeployCall, to: str, **fields: Any) -> None:
    """Move a call the caller holds locked to `to`, writing `fields` (see WITH_STATE) with it."""
    if to not in MOVES[call.state]:
        raise ValueError(f"a {call.state} deploy call cannot become {to}")
    unknown = set(fields) - WITH_STATE
    if unknown:
        raise ValueError(f"not written with a call's state: {sorted(unknown)}")
    call.state = to
    for name, value in fields.items():
        setattr(call, name, value)
    call.save(update_fields=["state", *fields, "updated_at"])
