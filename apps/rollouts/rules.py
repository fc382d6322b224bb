"""Wave state moves: which exist. Pure."""

ALLOWED_WAVE_MOVES: dict[str, frozenset[str]] = {
    "pending": frozenset({"scheduled", "waiting", "deploying", "halted", "skipped"}),
    "scheduled": frozenset({"pending", "waiting", "deploying", "halted", "skipped"}),
    "waiting": frozenset({"scheduled", "deploying", "halted", "failed", "skipped"}),
    "deploying": frozenset({"verifying", "failed", "halted", "rolled_back"}),
    "verifying": frozenset({"succeeded", "failed", "halted", "rolled_back"}),
    "halted": frozenset({"waiting", "deploying", "verifying", "failed", "rolled_back", "skipped"}),
    # A deployed wave whose rollback failed halts for an operator, whatever state it had.
    "failed": frozenset({"rolled_back", "halted"}),
    "succeeded": frozenset({"rolled_back", "halted"}),
    "rolled_back": frozenset(),
    "skipped": frozenset(),
}
# Moves that put traffic on a wave need the release to be rolling out.
LIVE_STATES = frozenset({"deploying", "verifying", "succeeded"})
REASON_REQUIRED = frozenset({"skipped", "halted", "failed", "rolled_back"})
# Waiting to start; on the way; done so the next wave may go; over, nothing more to do.
WAITING_STATES = frozenset({"pending", "scheduled", "waiting"})
RUNNING_STATES = frozenset({"deploying", "verifying"})
DONE_STATES = frozenset({"succeeded", "skipped"})
ENDED_STATES = frozenset({"succeeded", "skipped", "failed", "rolled_back"})


def wave_move_allowed(current: str, to: str) -> bool:
    return to in ALLOWED_WAVE_MOVES.get(current, frozenset())
