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


def _next(phase: str, target: str) -> bool:
    """Whether `target` is one move away. A phase further ahead is left to the people who
    move the release through the gates between; the wait only watches for it."""
    if phase in FORWARD and target in FORWARD:
        return FORWARD.index(target) == FORWARD.index(phase) + 1
    return True  # cancelled, rolled back: the server answers whether it may happen


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
    on_retry: Callable[[CliError], None] = lambda _: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll until the release is in `target`. With `request`, ask for the move through the
    transition endpoint whenever the status shows the gate open (and once at the start, for the
    server's own answer). `keep_waiting=False` gives up at the first refusal. A server or
    network error is tried again until the time is up: a long wait outlives a restart."""
    waiter = _Waiter(api, release, target, request, keep_waiting, on_blockers)
    deadline = clock() + timeout
    while True:
        try:
            outcome = waiter.step()
        except CliError as exc:
            if exc.code != Exit.SERVER or clock() >= deadline:
                raise
            on_retry(exc)
        else:
            if outcome is not None:
                return outcome
        remaining = deadline - clock()
        if remaining <= 0:
            return Outcome("timeout", waiter.phase, waiter.blockers, waiter.move)
        sleep(min(interval, remaining))


class _Waiter:
    """One look at the release per step; what it saw carries over to the next."""

    def __init__(
        self,
        api: Api,
        release: int,
        target: str,
        request: bool,
        keep_waiting: bool,
        on_blockers: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self.api = api
        self.release = release
        self.target = target
        self.request = request
        self.keep_waiting = keep_waiting
        self.on_blockers = on_blockers
        self.phase = ""
        self.blockers: list[dict[str, Any]] = []
        self.move: dict[str, Any] | None = None
        self.asked = False
        self.shown: list[dict[str, Any]] | None = None

    def step(self) -> Outcome | None:
        status = self.api.get(f"/releases/{self.release}/status/")
        self.phase = phase = status["phase"]
        if phase == self.target:
            return Outcome("reached", phase, move=self.move)
        if _passed(phase, self.target):
            message = f"The release is in {phase}; it will not reach {self.target}."
            return Outcome("refused", phase, [{"code": "move_not_allowed", "message": message}])
        if self.move is not None and self.move.get("state") == "pending":
            self.move = self.api.get(f"/moves/{self.move['id']}/")
            if self.move["state"] == "refused":
                return self.refused(self.move.get("blockers") or [])
            return None
        if (
            self.request
            and _next(phase, self.target)
            and (not self.asked or not status["blockers"])
        ):
            return self.ask()
        return self.refused(status.get("blockers") or [])

    def ask(self) -> Outcome | None:
        self.asked = True
        try:
            code, self.move = self.api.post(
                f"/releases/{self.release}/transition/", {"to": self.target}
            )
        except CliError as exc:
            if exc.status == 403:
                exc.message += " To only watch the release, add --no-request."
            if exc.status != 409:
                raise
            self.move = None
            return self.refused(exc.blockers or [{"code": "refused", "message": exc.message}])
        if code == 200:  # the server says the release is in that phase already
            return Outcome("reached", self.target, move=self.move)
        return None

    def refused(self, blockers: list[dict[str, Any]]) -> Outcome | None:
        """Give up on blockers waiting cannot clear (or on any, without keep_waiting);
        otherwise show them when they change and wait on."""
        self.blockers = blockers
        if blockers and (_final(blockers) or not self.keep_waiting):
            return Outcome("refused", self.phase, blockers, self.move)
        if blockers and blockers != self.shown:
            self.on_blockers(blockers)
        self.shown = blockers
        return None


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
