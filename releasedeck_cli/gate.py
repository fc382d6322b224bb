"""Waiting on a gate: ask for the move when the gate holds, watch the status until the release
is in the target phase, and say why not when it is refused or the time runs out."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .client import Api
from .errors import CliError, Exit

FORWARD = ["planning", "preparation", "testing", "rollout", "support", "completed"]
ENDED = {"completed", "cancelled", "rolled_back"}
# Blockers no amount of waiting clears: the move is not possible from here, or a stakeholder
# rejected this content (a verdict cannot be changed; only new content asks again).
FINAL_BLOCKERS = {"move_not_allowed", "signoff_rejected"}


@dataclass
class Outcome:
    result: str  # reached, refused, timeout
    phase: str
    blockers: list[dict[str, Any]] = field(default_factory=list)
    move: dict[str, Any] | None = None

    @property
    def exit_code(self) -> Exit:
        return {"reached": Exit.OK, "refused": Exit.REFUSED}.get(self.result, Exit.TIMEOUT)


def _final(blockers: list[dict[str, Any]]) -> bool:
    return any(b.get("code") in FINAL_BLOCKERS for b in blockers)


def _passed(phase: str, target: str) -> bool:
    """The release is already beyond `target` on the forward path, or has left it for good."""
    if phase in ENDED:
        return True
    if phase in FORWARD and target in FORWARD:
        return FORWARD.index(phase) > FORWARD.index(target)
    return False


def wait(
    api: Api,
    release: int,
    target: str,
    *,
    timeout: float,
    interval: float = 5.0,
    request: bool = True,
    keep_waiting: bool = True,
    on_blockers: Callable[[list[dict[str, Any]]], None] = lambda _: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll until the release is in `target`. With `request`, ask for the move through the
    transition endpoint whenever the status shows the gate open (and once at the start, for the
    server's own answer). `keep_waiting=False` gives up at the first refusal."""
    deadline = clock() + timeout
    blockers: list[dict[str, Any]] = []
    move: dict[str, Any] | None = None
    asked = False
    shown: list[dict[str, Any]] | None = None

    def show(now: list[dict[str, Any]]) -> None:
        nonlocal shown
        if now and now != shown:
            on_blockers(now)
        shown = now

    while True:
        status = api.get(f"/releases/{release}/status/")
        phase = status["phase"]
        if phase == target:
            return Outcome("reached", phase, move=move)
        if _passed(phase, target):
            message = f"The release is in {phase}; it will not reach {target}."
            return Outcome("refused", phase, [{"code": "move_not_allowed", "message": message}])
        if move is not None and move.get("state") == "pending":
            move = api.get(f"/moves/{move['id']}/")
            if move["state"] == "refused":
                blockers = move.get("blockers") or []
                if _final(blockers) or not keep_waiting:
                    return Outcome("refused", phase, blockers, move)
                show(blockers)
        elif request and (not asked or not status.get("blockers")):
            asked = True
            try:
                code, move = api.post(f"/releases/{release}/transition/", {"to": target})
            except CliError as exc:
                if exc.status != 409:
                    raise
                blockers = exc.blockers or [{"code": "refused", "message": exc.message}]
                move = None
                if _final(blockers) or not keep_waiting:
                    return Outcome("refused", phase, blockers)
                show(blockers)
            else:
                if code == 200:
                    continue  # already there: the next status read says so
        else:
            blockers = status.get("blockers") or []
            if blockers and not keep_waiting:
                return Outcome("refused", phase, blockers)
            show(blockers)
        remaining = deadline - clock()
        if remaining <= 0:
            return Outcome("timeout", phase, blockers, move)
        sleep(min(interval, remaining))


def parse_duration(text: str) -> float:
    """Seconds from `90`, `90s`, `30m`, `2h` or `1d`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    factor = units.get(text[-1:], 0)
    number = text[:-1] if factor else text
    try:
        value = float(number) * (factor or 1)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (try 90s, 30m, 2h or 1d)") from None
    if value < 0:
        raise ValueError("a duration cannot be negative")
    return value
