"""The lifecycle gates as pure decisions: facts built by hand, no database."""

import ast
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.errors import Blocker
from apps.releases import rules
from apps.releases.rules import (
    ChecklistFact,
    DefectFact,
    ReleaseFacts,
    SignoffFact,
    TestCaseFact,
    UnderWay,
    WaveFact,
)

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
FP = "fingerprint-of-current-content"
OLD_FP = "fingerprint-of-earlier-content"

PHASES = [
    "planning",
    "preparation",
    "testing",
    "rollout",
    "support",
    "completed",
    "cancelled",
    "rolled_back",
]
# The lifecycle diagram of PRODUCT.md, written out independently of rules.ALLOWED_MOVES.
DIAGRAM_MOVES = {
    ("planning", "preparation"),
    ("preparation", "testing"),
    ("testing", "rollout"),
    ("rollout", "support"),
    ("support", "completed"),
    ("planning", "cancelled"),
    ("preparation", "cancelled"),
    ("testing", "cancelled"),
    ("rollout", "rolled_back"),
}
FORWARD = {
    "planning": "preparation",
    "preparation": "testing",
    "testing": "rollout",
    "rollout": "support",
    "support": "completed",
}
NOT_SUCCEEDED_STATES = [
    "pending",
    "scheduled",
    "waiting",
    "deploying",
    "verifying",
    "failed",
    "halted",
    "rolled_back",
]


def approval(
    signer_id: int, role: str, *, fingerprint: str = FP, age: timedelta = timedelta(hours=1)
):
    return SignoffFact(signer_id, role, "approve", fingerprint, NOW - age)


def rejection(
    signer_id: int, role: str, *, fingerprint: str = FP, age: timedelta = timedelta(hours=1)
):
    return SignoffFact(signer_id, role, "reject", fingerprint, NOW - age)


def facts(phase: str = "planning", **changes) -> ReleaseFacts:
    """Facts under which every gate is open; each test breaks exactly what it is about."""
    base = ReleaseFacts(
        phase=phase,
        now=NOW,
        scope="Invoices: new screen. Search: faster.",
        planned_start=NOW + timedelta(days=3),
        planned_end=NOW + timedelta(days=4),
        fingerprint=FP,
        stakeholder_roles=frozenset({"qa", "business_owner", "cio"}),
        policy=(("business_owner", 1), ("qa", 2)),
        signoffs=(approval(1, "qa"), approval(2, "qa"), approval(3, "business_owner")),
        checklist=(
            ChecklistFact("prod-eu", "Backup confirmed", "done"),
            ChecklistFact("prod-eu", "Firewall rule", "waived", "No new ports in this release."),
        ),
        defects=(
            DefectFact("Typo on the invoice footer", "minor", "open"),
            DefectFact("Crash on save", "critical", "closed"),
        ),
        test_cases=(
            TestCaseFact("Create an invoice", "passed"),
            TestCaseFact("Print an invoice", "waived"),
        ),
        waves=(
            WaveFact("canary", "prod-eu", "succeeded"),
            WaveFact("us", "prod-us", "skipped", "No US customers yet."),
        ),
        hypercare_until=NOW - timedelta(hours=1),
        review_complete=True,
        has_plan=True,
        role_labels=(("business_owner", "Business owner"), ("cio", "CIO"), ("qa", "QA")),
    )
    return replace(base, **changes)


def codes(blockers: list[Blocker]) -> list[str]:
    return [b.code for b in blockers]


def forward_blockers(f: ReleaseFacts) -> list[Blocker]:
    return rules.move_blockers(f, FORWARD[f.phase])


def test_rules_module_imports_no_orm_and_no_io():
    tree = ast.parse(Path(rules.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"collections", "dataclasses", "datetime", "apps.core.errors"}


@pytest.mark.parametrize("phase", list(FORWARD))
def test_every_forward_gate_opens_when_all_its_conditions_hold(phase):
    assert forward_blockers(facts(phase)) == []


# planning → preparation


@pytest.mark.parametrize("scope", ["", "   \n"])
def test_preparation_refused_without_scope(scope):
    assert codes(forward_blockers(facts("planning", scope=scope))) == ["scope_missing"]


@pytest.mark.parametrize("missing", ["planned_start", "planned_end"])
def test_preparation_refused_without_planned_window(missing):
    assert codes(forward_blockers(facts("planning", **{missing: None}))) == ["window_missing"]


@pytest.mark.parametrize("role", ["qa", "business_owner"])
def test_preparation_refused_without_a_stakeholder_for_each_policy_role(role):
    held = frozenset({"qa", "business_owner", "cio"} - {role})
    blockers = forward_blockers(facts("planning", stakeholder_roles=held))
    assert codes(blockers) == ["stakeholder_missing"]
    assert {"qa": "a QA stakeholder", "business_owner": "a business owner stakeholder"}[
        role
    ] in blockers[0].message


def test_preparation_names_every_missing_stakeholder_role():
    blockers = forward_blockers(facts("planning", stakeholder_roles=frozenset()))
    assert codes(blockers) == ["stakeholder_missing", "stakeholder_missing"]


def test_preparation_needs_no_stakeholder_when_the_policy_is_empty():
    assert forward_blockers(facts("planning", policy=(), stakeholder_roles=frozenset())) == []


@pytest.mark.parametrize(
    "changes", [{"has_plan": False}, {"waves": ()}], ids=["no plan", "plan without waves"]
)
def test_preparation_refused_without_rollout_plan_with_a_wave(changes):
    assert codes(forward_blockers(facts("planning", **changes))) == ["rollout_plan_missing"]


# preparation → testing


def test_testing_refused_while_checklist_item_open():
    checklist = (ChecklistFact("prod-eu", "Open firewall port", "open"),)
    blockers = forward_blockers(facts("preparation", checklist=checklist))
    assert codes(blockers) == ["checklist_open"]
    assert "Open firewall port" in blockers[0].message


@pytest.mark.parametrize("reason", ["", "   "])
def test_testing_refused_while_checklist_item_waived_without_reason(reason):
    checklist = (ChecklistFact("prod-eu", "Backup confirmed", "waived", reason),)
    blockers = forward_blockers(facts("preparation", checklist=checklist))
    assert codes(blockers) == ["checklist_open"]
    assert "without a reason" in blockers[0].message


def test_testing_gate_ignores_checklist_items_of_environments_no_wave_targets():
    checklist = (
        ChecklistFact("staging", "Seed test data", "open"),
        ChecklistFact("dev", "Reset caches", "waived", ""),
    )
    assert forward_blockers(facts("preparation", checklist=checklist)) == []


def test_testing_gate_reports_each_open_item():
    checklist = (
        ChecklistFact("prod-eu", "Backup confirmed", "open"),
        ChecklistFact("prod-us", "DNS switch rehearsed", "open"),
        ChecklistFact("prod-us", "Certificates renewed", "done"),
    )
    assert codes(forward_blockers(facts("preparation", checklist=checklist))) == [
        "checklist_open",
        "checklist_open",
    ]


# testing → rollout


def test_rollout_refused_while_signoffs_missing():
    blockers = forward_blockers(facts("testing", signoffs=(approval(3, "business_owner"),)))
    assert codes(blockers) == ["signoff_missing"]
    assert blockers[0].message == "Needs 2 more QA approvals."


def test_missing_approvals_are_named_by_the_roles_display_name():
    labels = (("business_owner", "Business owner"), ("qa", "QA"))
    blockers = forward_blockers(facts("testing", signoffs=(approval(1, "qa"),), role_labels=labels))
    assert [b.message for b in blockers] == [
        "Needs 1 more business owner approval.",
        "Needs 1 more QA approval.",
    ]


def test_a_role_without_a_display_name_reads_as_words():
    blockers = forward_blockers(
        facts("testing", signoffs=(approval(1, "qa"), approval(2, "qa")), role_labels=())
    )
    assert [b.message for b in blockers] == ["Needs 1 more business owner approval."]


def test_missing_stakeholder_is_asked_for_in_words():
    labels = (("end_user_rep", "End-user representative"),)
    blockers = forward_blockers(
        facts(
            "planning",
            policy=(("end_user_rep", 1), ("qa", 1)),
            stakeholder_roles=frozenset(),
            role_labels=labels + (("qa", "QA"),),
        )
    )
    assert [b.message for b in blockers] == [
        "Name an end-user representative stakeholder: the sign-off policy asks for their approval.",
        "Name a QA stakeholder: the sign-off policy asks for their approval.",
    ]
    assert not any(isinstance(b, UnderWay) for b in blockers)


def test_rollout_refused_without_any_signoff_names_each_role():
    assert codes(forward_blockers(facts("testing", signoffs=()))) == [
        "signoff_missing",
        "signoff_missing",
    ]


def test_approvals_from_a_role_outside_the_policy_do_not_fill_it():
    signoffs = (approval(1, "qa"), approval(2, "qa"), approval(3, "cio"))
    assert codes(forward_blockers(facts("testing", signoffs=signoffs))) == ["signoff_missing"]


def test_rollout_refused_while_a_rejection_is_current():
    signoffs = facts().signoffs + (rejection(4, "qa"),)
    blockers = forward_blockers(facts("testing", signoffs=signoffs))
    assert codes(blockers) == ["signoff_rejected"]


def test_rejection_of_earlier_content_no_longer_blocks():
    signoffs = facts().signoffs + (rejection(4, "qa", fingerprint=OLD_FP),)
    assert forward_blockers(facts("testing", signoffs=signoffs)) == []


def test_stale_signoffs_do_not_count():
    stale = (
        approval(1, "qa", fingerprint=OLD_FP),
        approval(2, "qa", fingerprint=OLD_FP),
        approval(3, "business_owner", fingerprint=OLD_FP),
    )
    f = facts("testing", signoffs=stale)
    assert codes(forward_blockers(f)) == ["signoff_missing", "signoff_missing"]
    assert rules.signoff_tally(f).stale == 3


@pytest.mark.parametrize(
    ("age", "counts"),
    [
        (timedelta(days=6, hours=23), True),
        (timedelta(days=7), True),
        (timedelta(days=7, seconds=1), False),
        (timedelta(days=30), False),
    ],
)
def test_signoffs_older_than_the_expiry_do_not_count(age, counts):
    signoffs = (approval(1, "qa", age=age), approval(2, "qa"), approval(3, "business_owner"))
    f = facts("testing", signoffs=signoffs, signoff_expiry_days=7)
    assert (forward_blockers(f) == []) is counts
    assert rules.is_current(signoffs[0], f) is counts


def test_signoffs_never_expire_without_an_expiry():
    signoffs = tuple(replace(s, created_at=NOW - timedelta(days=3650)) for s in facts().signoffs)
    assert forward_blockers(facts("testing", signoffs=signoffs, signoff_expiry_days=None)) == []


@pytest.mark.parametrize("severity", ["critical", "blocker"])
def test_rollout_refused_while_critical_or_blocker_defect_open(severity):
    defects = (DefectFact("Data loss on save", severity, "open"),)
    blockers = forward_blockers(facts("testing", defects=defects))
    assert codes(blockers) == ["defect_open"]
    assert "Data loss on save" in blockers[0].message


@pytest.mark.parametrize("severity", ["major", "minor", "trivial"])
def test_open_defect_below_critical_does_not_block_rollout(severity):
    defects = (DefectFact("Slow report", severity, "open"),)
    assert forward_blockers(facts("testing", defects=defects)) == []


@pytest.mark.parametrize("status", ["not_run", "failed"])
def test_rollout_refused_while_test_case_not_passed(status):
    cases = (TestCaseFact("Create an invoice", status), TestCaseFact("Search", "passed"))
    blockers = forward_blockers(facts("testing", test_cases=cases))
    assert codes(blockers) == ["test_case_open"]
    assert (
        blockers[0].message
        == {
            "not_run": "Test case “Create an invoice” has not been run yet.",
            "failed": "Test case “Create an invoice” failed.",
        }[status]
    )


# rollout → support


@pytest.mark.parametrize("state", NOT_SUCCEEDED_STATES)
def test_support_refused_while_a_wave_has_not_succeeded(state):
    waves = (WaveFact("canary", "prod-eu", "succeeded"), WaveFact("all", "prod-us", state))
    blockers = forward_blockers(facts("rollout", waves=waves))
    assert codes(blockers) == ["wave_not_succeeded"]
    assert "all" in blockers[0].message
    assert "_" not in blockers[0].message


@pytest.mark.parametrize(
    ("state", "under_way"),
    [
        ("pending", True),
        ("scheduled", True),
        ("waiting", True),
        ("deploying", True),
        ("verifying", True),
        ("failed", False),
        ("halted", False),
        ("rolled_back", False),
    ],
)
def test_waves_still_rolling_out_are_progress_not_faults(state, under_way):
    waves = (WaveFact("canary", "prod-eu", "succeeded"), WaveFact("all", "prod-us", state))
    [blocker] = forward_blockers(facts("rollout", waves=waves))
    assert blocker.code == "wave_not_succeeded"
    assert isinstance(blocker, UnderWay) is under_way


def test_support_waits_for_a_rollback_the_deploy_tool_has_not_confirmed():
    waves = (WaveFact("all", "prod-us", "succeeded", rollback_pending=True),)
    [blocker] = forward_blockers(facts("rollout", waves=waves))
    assert blocker.code == "wave_rollback_pending"
    assert isinstance(blocker, UnderWay)


def test_hypercare_running_is_progress():
    blockers = forward_blockers(facts("support", hypercare_until=NOW + timedelta(days=2)))
    assert codes(blockers) == ["hypercare_running"]
    assert isinstance(blockers[0], UnderWay)


@pytest.mark.parametrize("reason", ["", "  "])
def test_support_refused_while_a_wave_was_skipped_without_reason(reason):
    waves = (
        WaveFact("canary", "prod-eu", "succeeded"),
        WaveFact("us", "prod-us", "skipped", reason),
    )
    assert codes(forward_blockers(facts("rollout", waves=waves))) == ["wave_skip_reason_missing"]


def test_support_refused_without_any_wave():
    assert codes(forward_blockers(facts("rollout", waves=()))) == ["rollout_plan_missing"]


def test_support_refused_when_only_shadow_waves_ran():
    waves = (
        WaveFact("eu shadow", "prod-eu", "succeeded", shadow=True),
        WaveFact("us shadow", "prod-us", "succeeded", shadow=True),
    )
    blockers = forward_blockers(facts("rollout", waves=waves))
    assert codes(blockers) == ["shadow_only"]
    assert "never user-visible" in blockers[0].message
    assert "us shadow" in blockers[0].message


def test_support_refused_when_every_real_wave_after_a_shadow_was_skipped():
    waves = (
        WaveFact("eu shadow", "prod-eu", "succeeded", shadow=True),
        WaveFact("eu 100%", "prod-eu", "skipped", "Postponed.", shadow=False),
    )
    assert codes(forward_blockers(facts("rollout", waves=waves))) == ["shadow_only"]


def test_support_allowed_once_a_real_wave_followed_the_shadow():
    waves = (
        WaveFact("eu shadow", "prod-eu", "succeeded", shadow=True),
        WaveFact("eu 100%", "prod-eu", "succeeded"),
    )
    assert forward_blockers(facts("rollout", waves=waves)) == []


# support → completed


@pytest.mark.parametrize(
    "until", [NOW + timedelta(seconds=1), NOW + timedelta(days=5), None], ids=str
)
def test_completion_refused_while_hypercare_running(until):
    assert codes(forward_blockers(facts("support", hypercare_until=until))) == ["hypercare_running"]


def test_completion_allowed_the_moment_hypercare_ends():
    assert forward_blockers(facts("support", hypercare_until=NOW)) == []


def test_completion_refused_without_review():
    assert codes(forward_blockers(facts("support", review_complete=False))) == ["review_missing"]


# Which moves exist at all


@pytest.mark.parametrize("to", PHASES)
@pytest.mark.parametrize("phase", PHASES)
def test_only_the_moves_of_the_lifecycle_diagram_are_allowed(phase, to):
    blockers = rules.move_blockers(facts(phase), to)
    if (phase, to) in DIAGRAM_MOVES:
        assert blockers == []
    else:
        assert codes(blockers) == ["move_not_allowed"]
        assert phase in blockers[0].message and to in blockers[0].message


@pytest.mark.parametrize("phase", ["planning", "preparation", "testing"])
def test_cancelling_needs_no_gate(phase):
    broken = facts(phase, scope="", planned_start=None, signoffs=(), has_plan=False)
    assert rules.move_blockers(broken, "cancelled") == []


def test_rolling_back_needs_no_gate():
    broken = facts("rollout", waves=(WaveFact("canary", "prod-eu", "failed"),))
    assert rules.move_blockers(broken, "rolled_back") == []


def test_next_phase_follows_the_forward_road():
    assert [rules.next_phase(p) for p in PHASES] == [
        "preparation",
        "testing",
        "rollout",
        "support",
        "completed",
        None,
        None,
        None,
    ]


# Sign-off tally and progress


def test_signoff_tally_counts_current_verdicts_and_what_is_missing():
    f = facts(
        "testing",
        policy=(("business_owner", 1), ("qa", 2), ("security", 1)),
        signoff_expiry_days=10,
        signoffs=(
            approval(1, "qa"),
            approval(2, "qa", fingerprint=OLD_FP),
            approval(3, "qa", age=timedelta(days=11)),
            rejection(4, "business_owner"),
            approval(5, "security"),
            approval(6, "cio"),
        ),
    )
    tally = rules.signoff_tally(f)
    assert (tally.required, tally.approved, tally.rejected, tally.stale) == (4, 3, 1, 2)
    assert tally.missing == {"business_owner": 1, "qa": 1}


def test_signoff_tally_of_a_release_without_policy_or_signoffs():
    tally = rules.signoff_tally(facts(policy=(), signoffs=()))
    assert (tally.required, tally.approved, tally.rejected, tally.stale) == (0, 0, 0, 0)
    assert tally.missing == {}


@pytest.mark.parametrize(
    ("phase", "wave_states", "expected"),
    [
        ("planning", (), 0),
        ("preparation", (), 20),
        ("testing", (), 40),
        ("rollout", (), 60),
        ("rollout", ("pending", "pending", "pending", "pending"), 60),
        ("rollout", ("succeeded", "skipped", "deploying", "pending"), 70),
        ("rollout", ("succeeded", "succeeded", "succeeded", "succeeded"), 80),
        ("support", (), 80),
        ("completed", (), 100),
        ("cancelled", (), 0),
        ("rolled_back", ("succeeded",), 0),
    ],
)
def test_progress_follows_phase_and_finished_waves(phase, wave_states, expected):
    waves = tuple(WaveFact(f"w{i}", "prod-eu", s, "why") for i, s in enumerate(wave_states))
    assert rules.progress(phase, waves) == expected


# Property: each gate is exactly the conjunction of its conditions.

ROLES = ["qa", "business_owner", "security"]
ENVS = ["prod-eu", "prod-us", "staging"]
WAVE_STATES = [*NOT_SUCCEEDED_STATES, "succeeded", "skipped"]
REASONS = ["", "  ", "Agreed with the business owner."]
# Around the expiries the strategy draws (3 and 10 days), where an off-by-one would hide.
AGES = [timedelta(days=d, seconds=sec) for d in (1, 3, 10) for sec in (-1, 0, 1)]


@st.composite
def random_facts(draw, phase: str) -> ReleaseFacts:
    policy = draw(st.lists(st.tuples(st.sampled_from(ROLES), st.integers(1, 3)), max_size=3))
    return ReleaseFacts(
        phase=phase,
        now=NOW,
        scope=draw(st.sampled_from(["", " ", "Scope"])),
        planned_start=draw(st.sampled_from([None, NOW])),
        planned_end=draw(st.sampled_from([None, NOW + timedelta(days=1)])),
        fingerprint=FP,
        stakeholder_roles=draw(st.frozensets(st.sampled_from(ROLES))),
        policy=tuple(dict(policy).items()),
        signoff_expiry_days=draw(st.sampled_from([None, 3, 10])),
        signoffs=tuple(
            draw(
                st.lists(
                    st.builds(
                        SignoffFact,
                        signer_id=st.integers(1, 6),
                        role=st.sampled_from(ROLES),
                        decision=st.sampled_from(["approve", "reject"]),
                        fingerprint=st.sampled_from([FP, OLD_FP]),
                        created_at=st.sampled_from(AGES).map(lambda age: NOW - age),
                    ),
                    max_size=6,
                )
            )
        ),
        checklist=tuple(
            draw(
                st.lists(
                    st.builds(
                        ChecklistFact,
                        environment=st.sampled_from(ENVS),
                        title=st.just("Item"),
                        status=st.sampled_from(["open", "done", "waived"]),
                        waive_reason=st.sampled_from(REASONS),
                    ),
                    max_size=4,
                )
            )
        ),
        defects=tuple(
            draw(
                st.lists(
                    st.builds(
                        DefectFact,
                        title=st.just("Defect"),
                        severity=st.sampled_from(["blocker", "critical", "major", "minor"]),
                        status=st.sampled_from(["open", "closed"]),
                    ),
                    max_size=3,
                )
            )
        ),
        test_cases=tuple(
            draw(
                st.lists(
                    st.builds(
                        TestCaseFact,
                        title=st.just("Case"),
                        status=st.sampled_from(["not_run", "passed", "failed", "waived"]),
                    ),
                    max_size=3,
                )
            )
        ),
        waves=tuple(
            draw(
                st.lists(
                    st.builds(
                        WaveFact,
                        name=st.just("Wave"),
                        environment=st.sampled_from(ENVS[:2]),
                        state=st.sampled_from(WAVE_STATES),
                        skip_reason=st.sampled_from(REASONS),
                        shadow=st.booleans(),
                    ),
                    max_size=3,
                )
            )
        ),
        hypercare_until=draw(
            st.sampled_from([None, NOW - timedelta(days=1), NOW, NOW + timedelta(days=1)])
        ),
        review_complete=draw(st.booleans()),
        has_plan=draw(st.booleans()),
    )


def violated_conditions(f: ReleaseFacts) -> set[str]:
    """PRODUCT.md's gate table, condition by condition."""
    if f.phase == "planning":
        return {
            code
            for code, violated in [
                ("scope_missing", not f.scope.strip()),
                ("window_missing", f.planned_start is None or f.planned_end is None),
                ("stakeholder_missing", any(r not in f.stakeholder_roles for r, _ in f.policy)),
                ("rollout_plan_missing", not (f.has_plan and f.waves)),
            ]
            if violated
        }
    if f.phase == "preparation":
        targets = {w.environment for w in f.waves}
        settled = [
            i.status == "done" or (i.status == "waived" and i.waive_reason.strip())
            for i in f.checklist
            if i.environment in targets
        ]
        return set() if all(settled) else {"checklist_open"}
    if f.phase == "testing":
        current = [
            s
            for s in f.signoffs
            if s.fingerprint == f.fingerprint
            and (
                f.signoff_expiry_days is None
                or NOW - s.created_at <= timedelta(days=f.signoff_expiry_days)
            )
        ]
        approvals = [s.role for s in current if s.decision == "approve"]
        return {
            code
            for code, violated in [
                ("signoff_missing", any(approvals.count(r) < n for r, n in f.policy)),
                ("signoff_rejected", any(s.decision == "reject" for s in current)),
                (
                    "defect_open",
                    any(
                        d.status == "open" and d.severity in ("critical", "blocker")
                        for d in f.defects
                    ),
                ),
                ("test_case_open", any(c.status in ("not_run", "failed") for c in f.test_cases)),
            ]
            if violated
        }
    if f.phase == "rollout":
        return {
            code
            for code, violated in [
                ("rollout_plan_missing", not f.waves),
                (
                    "wave_not_succeeded",
                    any(w.state not in ("succeeded", "skipped") for w in f.waves),
                ),
                (
                    "wave_skip_reason_missing",
                    any(w.state == "skipped" and not w.skip_reason.strip() for w in f.waves),
                ),
                (
                    "shadow_only",
                    any(w.shadow for w in f.waves)
                    and not any(w.state == "succeeded" and not w.shadow for w in f.waves),
                ),
            ]
            if violated
        }
    return {
        code
        for code, violated in [
            ("hypercare_running", f.hypercare_until is None or NOW < f.hypercare_until),
            ("review_missing", not f.review_complete),
        ]
        if violated
    }


@pytest.mark.parametrize("phase", list(FORWARD))
@given(data=st.data())
@settings(max_examples=120)
def test_a_gate_opens_exactly_when_every_condition_holds(phase, data):
    f = data.draw(random_facts(phase))
    blockers = forward_blockers(f)
    expected = violated_conditions(f)
    assert set(codes(blockers)) == expected
    assert (blockers == []) == (not expected)
    assert all(b.message.strip() for b in blockers)
