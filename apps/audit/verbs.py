"""The audit trail's vocabulary: what each verb means to a person, and which verbs belong
together. Verbs are written by the apps that act; their meaning is kept here, beside the
events."""

# Check results arrive every few seconds while a wave bakes; they belong to the rollout
# console, so the release page's activity counts them apart.
CHECK_RESULT_VERBS = ("check.passed", "check.failed")

# Verbs that record a decision someone (or the engine) took, kept in the evidence pack with
# their reasons even when no reason was typed.
DECISION_VERBS = (
    "release.moved",
    "release.override_moved",
    "release.move_refused",
    "signoff.approved",
    "signoff.rejected",
    "checklist.waived",
    "test_case.recorded",
    "wave.state_changed",
    "policy.set",
    "github.approved",
    "github.rejected",
)

# What each verb says after the actor's name; {subject} and the event's `after` fields fill it.
VERB_TEXT = {
    "release.created": "created the release",
    "release.updated": "edited the release",
    "release.moved": "moved the release to {phase}",
    "release.override_moved": "overrode the gate and moved to {phase}",
    "release.move_requested": "asked to move to {to}",
    "release.move_refused": "move to {to} was refused",
    "signoff.approved": "approved as {role}",
    "signoff.rejected": "rejected as {role}",
    "signoff.link_used": "gave a verdict as {role} through a mailed link",
    "signoff.link_refused": "was refused a verdict through a mailed link ({code})",
    "signoff.chat_refused": "was refused a verdict from chat ({code})",
    "stakeholder.added": "named {user} as {role}",
    "stakeholder.removed": "removed a stakeholder",
    "policy.set": "set the sign-off policy",
    "plan.set": "chose the {strategy} strategy",
    "plan.defaults_applied": "applied the {strategy} defaults",
    "wave.added": "added {subject}",
    "wave.updated": "changed {subject}",
    "wave.state_changed": "{subject} is now {state}",
    "wave.requirement_set": "set the sign-off {subject} needs",
    "wave.signoff_requested": "asked for the sign-off of {subject}",
    "check.added": "added {subject}",
    "check.passed": "{subject} passed",
    "check.failed": "{subject} failed",
    "checklist.added": "added checklist item “{title}”",
    "checklist.updated": "marked {subject} {status}",
    "checklist.waived": "waived {subject}",
    "test_case.added": "added test case “{title}”",
    "test_case.recorded": "recorded {subject} as {status}",
    "defect.opened": "opened a {severity} defect “{title}”",
    "defect.closed": "closed {subject}",
    "review.written": "wrote the post-release review",
    "freeze.created": "declared {subject}",
    "freeze.updated": "changed {subject}",
    "freeze.removed": "removed {subject}",
    "freeze.lift_approved": "approved lifting {subject}",
    "freeze.lifted": "lifted {subject}",
    "incident.opened": "heard {subject} open",
    "incident.resolved": "heard {subject} resolved",
    "incident_source.created": "added incident source {subject}",
    "incident_route.added": "added {subject}",
    "stop_the_line.on": "stopped the line",
    "stop_the_line.off": "lifted stop the line",
    "announcement.created": "wrote an announcement",
    "github.protection_requested": "received GitHub's request to deploy {sha} to {environment}",
    "github.approved": "approved GitHub's deployment to {environment}",
    "github.rejected": "rejected GitHub's deployment to {environment}",
    "github.answer_sent": "answered GitHub: {verdict}",
    "github.answer_failed": "could not answer GitHub (attempt {attempt})",
    "chat_identity.set": "linked a chat account to {user}",
    "chat_identity.removed": "unlinked a chat account",
}
