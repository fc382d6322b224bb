"""Which phase moves exist and what each gate demands. Pure: facts in, blockers out."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apps.core.errors import Blocker

PLANNING, PREPARATION, TESTING, ROLLOUT, SUPPORT, COMPLETED = (
    "planning",
    "preparation",
    "testing",
    "rollout",
    "support",
    "completed",
)
CANCELLED, ROLLED_BACK = "cancelled", "rolled_back"

FORWARD = {
    PLANNING: PREPARATION,
    PREPARATION: TESTING,
    TESTING: ROLLOUT,
    ROLLOUT: SUPPORT,
    SUPPORT: COMPLETED,
}
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    PLANNING: frozenset({PREPARATION, CANCELLED}),
    PREPARATION: frozenset({TESTING, CANCELLED}),
    TESTING: frozenset({ROLLOUT, CANCELLED}),
    ROLLOUT: frozenset({SUPPORT, ROLLED_BACK}),
    SUPPORT: frozenset({COMPLETED}),
    COMPLETED: frozenset(),
    CANCELLED: frozenset(),
    ROLLED_BACK: frozenset(),
}
TERMINAL = frozenset({COMPLETED, CANCELLED, ROLLED_BACK})
# Moves that end a release early need a written reason.
REASON_REQUIRED = frozenset({CANCELLED, ROLLED_BACK})
# Content (version, build, scope) is frozen once the release is rolling out.
CONTENT_EDITABLE = frozenset({PLANNING, PREPARATION, TESTING})
BLOCKING_SEVERITIES = frozenset({"blocker", "critical"})
# Wave states on their way to success: a gate waiting on them is progress, not a fault.
WAVE_UNDER_WAY = frozenset({"pending", "scheduled", "waiting", "deploying", "verifying"})
WAVE_STATE_SENTENCES = {
    "pending": "has not started yet",
    "scheduled": "is scheduled",
    "waiting": "is waiting to start",
    "deploying": "is deploying",
    "verifying": "is verifying",
    "failed": "failed: retry it, skip it with a reason, or roll back",
    "halted": "is halted: resume it or roll back",
    "rolled_back": "was rolled back",
}


@dataclass(frozen=True)
class UnderWay(Blocker):
    """A blocker that clears by itself as work goes on (a wave still rolling out, hypercare's
    clock): pages show it as progress, not as a fault. Its code stays the gate's own."""


def role_phrase(label: str) -> str:
    """A role's display name inside a sentence: "Business owner" → "business owner", while
    initialisms keep their capitals ("QA", "IT support")."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def approvals_needed(label: str, count: int) -> str:
    """ "Needs 1 more business owner approval", "Needs 2 more QA approvals"."""
    return f"Needs {count} more {role_phrase(label)} approval{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class ChecklistFact:
    environment: str
    title: str
    status: str  # open | done | waived
    waive_reason: str = ""


@dataclass(frozen=True)
class SignoffFact:
    signer_id: int
    role: str
    decision: str  # approve | reject
    fingerprint: str
    created_at: datetime
    role_held: bool = True  # False once the signer no longer holds the role on the release


@dataclass(frozen=True)
class DefectFact:
    title: str
    severity: str
    status: str  # open | closed


@dataclass(frozen=True)
class TestCaseFact:
    __test__ = False

    title: str
    status: str  # not_run | passed | failed | waived


@dataclass(frozen=True)
class WaveFact:
    name: str
    environment: str
    state: str
    skip_reason: str = ""
    shadow: bool = False  # mirrors traffic only: never user exposure
    rollback_pending: bool = False  # asked the deploy tool to roll back; not yet confirmed


@dataclass(frozen=True)
class ReleaseFacts:
    """Everything the gates look at, read once from the database."""

    phase: str
    now: datetime
    scope: str = ""
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    fingerprint: str = ""
    stakeholder_roles: frozenset[str] = frozenset()
    policy: tuple[tuple[str, int], ...] = ()  # (role, approvals needed)
    signoff_expiry_days: int | None = None
    signoffs: tuple[SignoffFact, ...] = ()
    checklist: tuple[ChecklistFact, ...] = ()
    defects: tuple[DefectFact, ...] = ()
    test_cases: tuple[TestCaseFact, ...] = ()
    waves: tuple[WaveFact, ...] = ()
    hypercare_until: datetime | None = None
    review_complete: bool = False
    has_plan: bool = False
    role_labels: tuple[tuple[str, str], ...] = ()  # (role, display name) for the sentences

    def role_label(self, role: str) -> str:
        return dict(self.role_labels).get(role) or role.replace("_", " ").capitalize()


@dataclass(frozen=True)
class SignoffTally:
    required: int
    approved: int
    rejected: int
    stale: int
    missing: dict[str, int] = field(default_factory=dict)  # role -> approvals still needed


# Why a sign-off does or does not count, checked in this order.
STALE = "stale"  # the release's content changed since it was given
EXPIRED = "expired"  # older than the release's sign-off expiry
ROLE_LOST = "role_lost"  # the signer no longer holds the role on the release
CURRENT = "current"


def signoff_standing(signoff: SignoffFact, facts: ReleaseFacts) -> str:
    """Whether a sign-off counts (CURRENT) or the first reason it does not."""
    if signoff.fingerprint != facts.fingerprint:
        return STALE
    if facts.signoff_expiry_days is not None and facts.now - signoff.created_at > timedelta(
        days=facts.signoff_expiry_days
    ):
        return EXPIRED
    if not signoff.role_held:
        return ROLE_LOST
    return CURRENT


def is_current(signoff: SignoffFact, facts: ReleaseFacts) -> bool:
    """A sign-off counts only for today's content, while it has not expired and while its
    signer holds the role."""
    return signoff_standing(signoff, facts) == CURRENT


def signoff_tally(facts: ReleaseFacts) -> SignoffTally:
    current = [s for s in facts.signoffs if is_current(s, facts)]
    approvals = Counter(s.role for s in current if s.decision == "approve")
    missing = {
        role: needed - approvals.get(role, 0)
        for role, needed in facts.policy
        if approvals.get(role, 0) < needed
    }
    return SignoffTally(
        required=sum(needed for _, needed in facts.policy),
        approved=sum(1 for s in current if s.decision == "approve"),
        rejected=sum(1 for s in current if s.decision == "reject"),
        stale=len(facts.signoffs) - len(current),
        missing=missing,
    )


def gate_planning_to_preparation(facts: ReleaseFacts) -> list[Blocker]:
    blockers = []
    if not facts.scope.strip():
        blockers.append(Blocker("scope_missing", "Write the scope of the release."))
    if facts.planned_start is None or facts.planned_end is None:
        blockers.append(Blocker("window_missing", "Set the planned window (start and end)."))
    for role, _ in facts.policy:
        if role not in facts.stakeholder_roles:
            phrase = role_phrase(facts.role_label(role))
            article = "an" if phrase[:1].lower() in "aeiou" else "a"
            blockers.append(
                Blocker(
                    "stakeholder_missing",
                    f"Name {article} {phrase} stakeholder: the sign-off policy asks for their "
                    "approval.",
                )
            )
    if not facts.has_plan or not facts.waves:
        blockers.append(
            Blocker("rollout_plan_missing", "Add a rollout plan with at least one wave.")
        )
    return blockers


def gate_preparation_to_testing(facts: ReleaseFacts) -> list[Blocker]:
    targets = {w.environment for w in facts.waves}
    blockers = []
    for item in facts.checklist:
        if item.environment not in targets:
            continue
        if item.status == "done":
            continue
        if item.status == "waived" and item.waive_reason.strip():
            continue
        if item.status == "waived":
            message = f"{item.environment}: “{item.title}” is waived without a reason."
        else:
            message = f"{item.environment}: “{item.title}” is not done."
        blockers.append(Blocker("checklist_open", message))
    return blockers


def gate_testing_to_rollout(facts: ReleaseFacts) -> list[Blocker]:
    blockers = []
    tally = signoff_tally(facts)
    for role, needed in tally.missing.items():
        blockers.append(
            Blocker("signoff_missing", f"{approvals_needed(facts.role_label(role), needed)}.")
        )
    if tally.rejected == 1:
        blockers.append(Blocker("signoff_rejected", "A stakeholder rejected this version."))
    elif tally.rejected:
        blockers.append(
            Blocker("signoff_rejected", f"{tally.rejected} stakeholders rejected this version.")
        )
    for defect in facts.defects:
        if defect.status == "open" and defect.severity in BLOCKING_SEVERITIES:
            blockers.append(
                Blocker("defect_open", f"Open {defect.severity} defect: “{defect.title}”.")
            )
    for case in facts.test_cases:
        if case.status == "failed":
            blockers.append(Blocker("test_case_open", f"Test case “{case.title}” failed."))
        elif case.status not in ("passed", "waived"):
            blockers.append(
                Blocker("test_case_open", f"Test case “{case.title}” has not been run yet.")
            )
    return blockers


def gate_rollout_to_support(facts: ReleaseFacts) -> list[Blocker]:
    blockers = []
    if not facts.waves:
        blockers.append(Blocker("rollout_plan_missing", "The rollout plan has no waves."))
    for wave in facts.waves:
        if wave.rollback_pending:
            blockers.append(
                UnderWay(
                    "wave_rollback_pending",
                    f"Wave {wave.name} is rolling back: the deploy tool has not confirmed it yet.",
                )
            )
            continue
        if wave.state == "succeeded":
            continue
        if wave.state == "skipped":
            if not wave.skip_reason.strip():
                blockers.append(
                    Blocker(
                        "wave_skip_reason_missing",
                        f"Wave {wave.name} was skipped without a reason.",
                    )
                )
            continue
        kind = UnderWay if wave.state in WAVE_UNDER_WAY else Blocker
        state = WAVE_STATE_SENTENCES.get(wave.state, f"is {wave.state.replace('_', ' ')}")
        blockers.append(kind("wave_not_succeeded", f"Wave {wave.name} {state}."))
    shadows = [w for w in facts.waves if w.shadow]
    if shadows and not any(w.state == "succeeded" for w in facts.waves if not w.shadow):
        blockers.append(
            Blocker(
                "shadow_only",
                "A shadow wave is never user-visible; add a real wave after "
                f"{shadows[-1].name} and let it succeed before the rollout is complete.",
            )
        )
    return blockers


def gate_support_to_completed(facts: ReleaseFacts) -> list[Blocker]:
    blockers: list[Blocker] = []
    if facts.hypercare_until is None or facts.now < facts.hypercare_until:
        until = (
            f" until {facts.hypercare_until:%a %d %b %Y, %H:%M} UTC"
            if facts.hypercare_until
            else ""
        )
        blockers.append(UnderWay("hypercare_running", f"Hypercare is still running{until}."))
    if not facts.review_complete:
        blockers.append(
            Blocker(
                "review_missing",
                "Write the post-release review: what went well, what did not, and actions.",
            )
        )
    return blockers


GATES = {
    (PLANNING, PREPARATION): gate_planning_to_preparation,
    (PREPARATION, TESTING): gate_preparation_to_testing,
    (TESTING, ROLLOUT): gate_testing_to_rollout,
    (ROLLOUT, SUPPORT): gate_rollout_to_support,
    (SUPPORT, COMPLETED): gate_support_to_completed,
}


def move_blockers(facts: ReleaseFacts, to: str) -> list[Blocker]:
    """Everything that stops `facts.phase` → `to` right now; empty when the move may happen."""
    if to not in ALLOWED_MOVES.get(facts.phase, frozenset()):
        return [Blocker("move_not_allowed", f"A release in {facts.phase} cannot move to {to}.")]
    gate = GATES.get((facts.phase, to))
    return gate(facts) if gate else []


def next_phase(phase: str) -> str | None:
    return FORWARD.get(phase)


def progress(phase: str, waves: tuple[WaveFact, ...] = ()) -> int:
    """How far along the lifecycle a release is, 0–100; rollout advances with its waves."""
    steps = {PLANNING: 0, PREPARATION: 20, TESTING: 40, ROLLOUT: 60, SUPPORT: 80, COMPLETED: 100}
    if phase in (CANCELLED, ROLLED_BACK):
        return 0
    base = steps[phase]
    if phase == ROLLOUT and waves:
        finished = sum(1 for w in waves if w.state in ("succeeded", "skipped"))
        base += round(20 * finished / len(waves))
    return base
