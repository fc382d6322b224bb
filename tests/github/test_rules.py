"""The verdict on a deployment, from facts alone."""

import pytest

from apps.github.rules import GateFacts, WaveFact, verdict

IN_ROLLOUT = GateFacts(
    commit="3f786850e387",
    environment="production",
    release="CRM 2.0 (2.0.0)",
    phase="rollout",
    approvals=("alice (QA)",),
)


def wave(state: str, **kwargs) -> WaveFact:
    return WaveFact(name="prod-eu 100%", state=state, **kwargs)


@pytest.mark.parametrize(
    ("facts", "state", "code"),
    [
        (GateFacts(commit="abc", environment="production"), "rejected", "release_unknown"),
        (
            GateFacts(commit="abc", environment="production", ambiguous=("A (1)", "B (1)")),
            "rejected",
            "release_ambiguous",
        ),
        (
            GateFacts(**{**IN_ROLLOUT.__dict__, "names_commit": False}),
            "rejected",
            "release_changed",
        ),
        (
            GateFacts(**{**IN_ROLLOUT.__dict__, "environment_known": False}),
            "rejected",
            "environment_unknown",
        ),
        (
            GateFacts(**{**IN_ROLLOUT.__dict__, "phase": "rolled_back"}),
            "rejected",
            "release_ended",
        ),
        (
            GateFacts(**{**IN_ROLLOUT.__dict__, "phase": "testing"}),
            "pending",
            "release_not_in_rollout",
        ),
        (IN_ROLLOUT, "rejected", "wave_missing"),
        (
            GateFacts(**{**IN_ROLLOUT.__dict__, "waves": (wave("skipped"),)}),
            "rejected",
            "wave_skipped",
        ),
        (
            GateFacts(
                **{**IN_ROLLOUT.__dict__, "waves": (wave("waiting", state_reason="Frozen"),)}
            ),
            "pending",
            "wave_not_started",
        ),
        (
            GateFacts(**{**IN_ROLLOUT.__dict__, "waves": (wave("halted"),)}),
            "pending",
            "wave_halted",
        ),
        (
            GateFacts(**{**IN_ROLLOUT.__dict__, "waves": (wave("failed"),)}),
            "rejected",
            "wave_ended",
        ),
        (
            GateFacts(
                **{**IN_ROLLOUT.__dict__, "waves": (wave("waiting", rejections=("bob (BO)",)),)}
            ),
            "rejected",
            "wave_signoff_rejected",
        ),
    ],
)
def test_what_refuses_and_what_waits(facts, state, code):
    decided = verdict(facts)
    assert decided.state == state
    assert [b.code for b in decided.blockers] == [code]


@pytest.mark.parametrize("state", ["deploying", "verifying", "succeeded"])
def test_approved_once_the_first_wave_there_has_started_skipped_ones_aside(state):
    facts = GateFacts(
        **{
            **IN_ROLLOUT.__dict__,
            "phase": "support" if state == "succeeded" else "rollout",
            "waves": (
                wave("skipped"),
                wave(state, approvals=("bob (Business owner)",)),
                wave("pending"),
            ),
        }
    )
    decided = verdict(facts)
    assert decided.state == "approved" and decided.blockers == ()
    assert "Signed off by alice (QA)." in decided.comment
    assert "signed off by bob (Business owner)" in decided.comment
