"""Whether a GitHub deployment of a release to an environment may go ahead. Pure: facts in,
a verdict out.

The deployment goes ahead (approved) once ReleaseDeck has let the release into that
environment: the release passed the gate into rollout and the first wave of its plan in that
environment (skipped waves aside) has started, which the engine does only when that wave may
start (its turn has come, no freeze or closed window, stop the line off, its own sign-off
given). It is refused (rejected) when that can no longer happen: no release names the commit,
the release stopped naming it, the environment is unknown or not in the plan, the release was
cancelled or rolled back, the wave failed, was rolled back or skipped, or a stakeholder
rejected the wave. Anything else waits (pending) and is looked at again as things change.
"""

from dataclasses import dataclass, field

from apps.core.errors import Blocker
from apps.releases import rules as release_rules

APPROVED, REJECTED, PENDING = "approved", "rejected", "pending"
COMMENT_LIMIT = 1000

BEFORE_ROLLOUT = frozenset(
    {release_rules.PLANNING, release_rules.PREPARATION, release_rules.TESTING}
)
ENDED_RELEASE = {
    release_rules.CANCELLED: "was cancelled",
    release_rules.ROLLED_BACK: "was rolled back",
}
STARTED = {"deploying": "is deploying", "verifying": "is verifying", "succeeded": "succeeded"}
ENDED_WAVE = {"failed": "failed", "rolled_back": "was rolled back"}
WAITING = frozenset({"pending", "scheduled", "waiting"})


@dataclass(frozen=True)
class WaveFact:
    name: str
    state: str
    state_reason: str = ""
    approvals: tuple[str, ...] = ()  # "carol (Business owner)" for its own sign-off
    rejections: tuple[str, ...] = ()  # "carol (Business owner): not this week"


@dataclass(frozen=True)
class GateFacts:
    """What the verdict looks at, read once."""

    commit: str  # the sha or ref GitHub asked about, for the sentences
    environment: str  # GitHub's name for it
    environment_known: bool = True
    release: str = ""  # "CRM 2.0 (2.0.0)"; empty: no release names the commit
    ambiguous: tuple[str, ...] = ()  # every release that names it, when more than one does
    names_commit: bool = True  # the release still names the commit it was matched by
    phase: str = ""
    phase_reason: str = ""
    waves: tuple[WaveFact, ...] = ()  # the plan's waves in that environment, in order
    approvals: tuple[str, ...] = ()  # "alice (QA)": the release's sign-offs on this content


@dataclass(frozen=True)
class Verdict:
    state: str
    comment: str
    blockers: tuple[Blocker, ...] = field(default=())


def _signed(facts: GateFacts, wave: WaveFact) -> str:
    parts = []
    if facts.approvals:
        parts.append(f"Signed off by {', '.join(facts.approvals)}.")
    else:
        parts.append("The sign-off policy asked for no approvals.")
    if wave.approvals:
        parts.append(f"Wave {wave.name} signed off by {', '.join(wave.approvals)}.")
    return " ".join(parts)


def _refuse(facts: GateFacts, *blockers: Blocker) -> Verdict:
    what = facts.release or f"commit {facts.commit}"
    reasons = " ".join(b.message for b in blockers)
    comment = f"ReleaseDeck refuses to deploy {what} to {facts.environment}: {reasons}"
    return Verdict(REJECTED, comment[:COMMENT_LIMIT], blockers)


def _wait(facts: GateFacts, *blockers: Blocker) -> Verdict:
    reasons = " ".join(b.message for b in blockers)
    return Verdict(PENDING, f"Waiting: {reasons}"[:COMMENT_LIMIT], blockers)


def verdict(facts: GateFacts) -> Verdict:
    """Approved, rejected, or pending with what it waits for; see the module's docstring."""
    if facts.ambiguous:
        return _refuse(
            facts,
            Blocker(
                "release_ambiguous",
                f"Several releases name {facts.commit}: {', '.join(facts.ambiguous)}. Map the "
                "repository to its application (RELEASEDECK_GITHUB_REPOSITORIES).",
            ),
        )
    if not facts.release:
        return _refuse(
            facts,
            Blocker(
                "release_unknown",
                f"No release names {facts.commit} in its build reference (git:<sha or tag>).",
            ),
        )
    if not facts.names_commit:
        return _refuse(
            facts,
            Blocker("release_changed", f"The release no longer names {facts.commit}."),
        )
    if not facts.environment_known:
        return _refuse(
            facts,
            Blocker(
                "environment_unknown",
                f"ReleaseDeck has no environment for {facts.environment}.",
            ),
        )
    if facts.phase in ENDED_RELEASE:
        why = f": {facts.phase_reason}" if facts.phase_reason else "."
        return _refuse(
            facts, Blocker("release_ended", f"The release {ENDED_RELEASE[facts.phase]}{why}")
        )
    if facts.phase in BEFORE_ROLLOUT:
        return _wait(
            facts,
            Blocker(
                "release_not_in_rollout",
                f"The release is in {facts.phase}; it deploys once it has passed the gate "
                "into rollout.",
            ),
        )
    if not facts.waves:
        return _refuse(
            facts,
            Blocker("wave_missing", f"The rollout plan has no wave in {facts.environment}."),
        )
    live = [w for w in facts.waves if w.state != "skipped"]
    if not live:
        return _refuse(
            facts, Blocker("wave_skipped", f"Every wave in {facts.environment} was skipped.")
        )
    wave = live[0]
    if wave.state in STARTED:
        comment = (
            f"ReleaseDeck approves {facts.release} for {facts.environment}: wave {wave.name} "
            f"{STARTED[wave.state]}. {_signed(facts, wave)}"
        )
        return Verdict(APPROVED, comment[:COMMENT_LIMIT])
    if wave.state in ENDED_WAVE:
        why = f": {wave.state_reason}" if wave.state_reason else "."
        return _refuse(
            facts, Blocker("wave_ended", f"Wave {wave.name} {ENDED_WAVE[wave.state]}{why}")
        )
    if wave.state in WAITING and wave.rejections:
        return _refuse(
            facts,
            Blocker(
                "wave_signoff_rejected",
                f"Wave {wave.name} was rejected by {'; '.join(wave.rejections)}.",
            ),
        )
    if wave.state == "halted":
        why = f": {wave.state_reason}" if wave.state_reason else "."
        return _wait(facts, Blocker("wave_halted", f"Wave {wave.name} is halted{why}"))
    why = f": {wave.state_reason}" if wave.state_reason else "."
    return _wait(facts, Blocker("wave_not_started", f"Wave {wave.name} has not started yet{why}"))
