"""Each API operation's summary, and its description where the view's own docstring is shared
with another operation or missing. Applied to the OpenAPI schema by `describe_operations`;
`tests/api/test_schema_docs.py` fails when an operation has neither here nor in its view."""

from typing import Any

# operationId: (summary, description or None to keep the one the view gives).
OPERATIONS: dict[str, tuple[str, str | None]] = {
    # People and access
    "me_retrieve": ("Who am I", None),
    "users_list": (
        "List people",
        "People who can be named as owners and stakeholders, with the roles they hold. "
        "Administrators may ask for deactivated people with `is_active=false`.",
    ),
    "users_create": (
        "Add a person",
        "Administrators only. Without a `password` the person signs in once they have chosen "
        "one through the set-password link (`users_set_password_link`) or through single "
        "sign-on.",
    ),
    "users_retrieve": (
        "Read a person",
        "One person: name, e-mail address, whether they are active, and every role they hold, "
        "in which team or organisation-wide.",
    ),
    "users_partial_update": (
        "Edit a person",
        "Administrators only: change a person's e-mail address or name, or set their password "
        "(their sessions then end). Both or neither are written.",
    ),
    "users_deactivate": (
        "Deactivate a person",
        "Administrators only. The person's sessions end, and their API tokens and open pages are "
        "refused from their next request; their history and roles stay. You cannot deactivate "
        "yourself.",
    ),
    "users_reactivate": (
        "Reactivate a person",
        "Administrators only: a deactivated person may sign in again, with the roles they held.",
    ),
    "users_set_password_link": (
        "Mail a set-password link",
        "Administrators only: mails the person a link to choose their password. It works once "
        "and expires after `PASSWORD_RESET_TIMEOUT` seconds.",
    ),
    "teams_list": (
        "List teams",
        "Teams own applications; a role held in a team acts on its applications' releases.",
    ),
    "teams_create": ("Add a team", "Administrators only. Name and slug are each unique."),
    "teams_retrieve": ("Read a team", "One team with the applications it owns."),
    "teams_partial_update": (
        "Rename a team",
        "Administrators only: change a team's name or slug (single sign-on group mappings name "
        "the slug).",
    ),
    "teams_members_list": (
        "List a team's members",
        "The roles held in this team: one row per person and role, with its tiers and source.",
    ),
    "teams_members_grant": (
        "Grant a role in a team",
        "Administrators only: 201 with the new grant, 200 when the person held it already. "
        "Platform and administrator are held organisation-wide only (400); `tiers` limit an "
        "operator to environment tiers.",
    ),
    "teams_members_revoke": (
        "Revoke a role in a team",
        "Administrators only: take away one role held in this team.",
    ),
    "grants_list": (
        "List role grants",
        "Every role every person holds, in a team or organisation-wide; filter by `user`, "
        "`team`, `role` or `org_wide`.",
    ),
    "grants_create": (
        "Grant a role organisation-wide",
        "Administrators only: 201 with the new grant, 200 when the person held it already. "
        "Roles in a team are granted at /teams/{id}/members/.",
    ),
    "grants_retrieve": ("Read a role grant", "One role a person holds, where, and from where."),
    "grants_revoke": (
        "Revoke a role grant",
        "Administrators only: take away a role, in a team or organisation-wide. You cannot "
        "revoke your own administrator role.",
    ),
    "tokens_list": (
        "List your API tokens",
        "Your own API tokens, newest first, without their keys (a key is shown once, when the "
        "token is created).",
    ),
    "tokens_create": (
        "Create an API token",
        "A new token for yourself; the answer holds its key, shown this once. A read-only token "
        "may only read.",
    ),
    "tokens_retrieve": ("Read one of your API tokens", "One of your own tokens, without its key."),
    "tokens_revoke": (
        "Revoke an API token",
        "Revoke one of your own tokens; requests with its key are refused from now on.",
    ),
    # Applications and releases
    "applications_list": ("List applications", "Applications releases belong to (CRM, ERP …)."),
    "applications_create": (
        "Create an application",
        "Add an application releases can belong to; its slug is unique.",
    ),
    "applications_retrieve": ("Read an application", "One application: name, slug, description."),
    "applications_partial_update": (
        "Edit an application",
        "Change an application's name, slug or description.",
    ),
    "releases_list": ("List releases", None),
    "releases_create": (
        "Create a release",
        "A new release of an application, in planning, owned by its creator unless `owner` "
        "names someone else.",
    ),
    "releases_retrieve": (
        "Read a release",
        "One release with its phase, content (version, build, scope), owner and planned window.",
    ),
    "releases_partial_update": ("Edit a release", None),
    "releases_status": (
        "Read a release's status",
        "The compact status document pipelines poll: phase, blockers, sign-off counts, waves "
        "and progress. Send the ETag back in If-None-Match for a 304 while nothing changed.",
    ),
    "releases_transition": ("Ask for a phase move", None),
    "releases_moves_list": ("List a release's phase moves", None),
    "moves_retrieve": (
        "Read a phase move",
        "One requested phase move: pending, done, or refused with the blockers that refused it.",
    ),
    "releases_checklist_items_list": (
        "List a release's checklist",
        "Preparation steps per environment; all done or waived opens preparation → testing.",
    ),
    "releases_checklist_items_create": (
        "Add a checklist item",
        "Add a preparation step for one of the release's environments, in one area "
        "(servers, networking, data, integrations, security, tooling).",
    ),
    "checklist_items_retrieve": ("Read a checklist item", "One preparation step and its status."),
    "checklist_items_partial_update": ("Update a checklist item", None),
    "checklist_items_waive": (
        "Waive a checklist item",
        "Mark a preparation step as not needed, with the reason; it then counts as done.",
    ),
    "releases_test_cases_list": (
        "List a release's UAT test cases",
        "UAT test cases; all passed or waived is part of the testing → rollout gate.",
    ),
    "releases_test_cases_create": ("Add a UAT test case", "Add a test case, not run yet."),
    "test_cases_retrieve": ("Read a UAT test case", "One test case and its latest result."),
    "test_cases_partial_update": ("Record a test result", None),
    "test_cases_waive": (
        "Waive a UAT test case",
        "Leave a test case out of the gate, with the reason.",
    ),
    "releases_defects_list": (
        "List a release's defects",
        "Defects found in UAT; an open critical or blocker one closes the testing → rollout gate.",
    ),
    "releases_defects_create": (
        "Open a defect",
        "Record a defect found in UAT with its severity. Anyone who runs or tests the release "
        "may open one.",
    ),
    "defects_retrieve": (
        "Read a defect",
        "One defect, its severity, and its resolution once closed.",
    ),
    "defects_close": (
        "Close a defect",
        "Close a defect with its resolution. A blocker or critical defect holds the testing → "
        "rollout gate, so only the release's release manager or one of its qa stakeholders may "
        "close it, and the resolution note is required.",
    ),
    "releases_review_retrieve": ("Read the post-release review", None),
    "releases_review_write": ("Write the post-release review", None),
    "releases_evidence": ("Download a release's evidence pack", None),
    # Stakeholders and sign-offs
    "stakeholder_roles_list": ("List stakeholder roles", None),
    "releases_stakeholders_list": (
        "List a release's stakeholders",
        "People with a role on a release; the sign-off policy counts approvals by these roles.",
    ),
    "releases_stakeholders_create": (
        "Name a stakeholder",
        "Give a person a stakeholder role (qa, business_owner …) on this release.",
    ),
    "stakeholders_retrieve": ("Read a stakeholder", "One person's role on one release."),
    "stakeholders_destroy": (
        "Remove a stakeholder",
        "Take a person's role on this release away; their earlier sign-offs stay in the record.",
    ),
    "releases_signoff_policy_retrieve": ("Read the sign-off policy", None),
    "releases_signoff_policy_set": ("Replace the sign-off policy", None),
    "releases_signoffs_list": ("List a release's sign-offs", None),
    "releases_signoffs_create": ("Sign a release off", None),
    "signoffs_retrieve": (
        "Read a sign-off",
        "One verdict: who, as which role, for which content, and whether it still counts.",
    ),
    # Rollout plan and waves
    "releases_rollout_plan_retrieve": ("Read the rollout plan", None),
    "releases_rollout_plan_set": ("Set the rollout strategy", None),
    "releases_rollout_plan_apply_strategy": ("Apply a strategy's default waves", None),
    "releases_rollout_plan_dry_run": (
        "Dry-run the saved plan",
        "When each saved wave could start at the earliest, given deployment windows, freezes "
        "and the bake time of the wave before it; with a warning wherever a wave is pushed "
        "later. Nothing is changed.",
    ),
    "releases_rollout_plan_dry_run_proposal": (
        "Dry-run proposed waves",
        "The same answer as the dry run of the saved plan, for waves not saved yet (as the "
        "wave scheduler shows them before saving). Nothing is saved.",
    ),
    "releases_waves_list": ("List a release's waves", None),
    "releases_waves_create": ("Add a wave", None),
    "waves_retrieve": (
        "Read a wave",
        "One wave: its environment, share, planned start (UTC), bake time, policy and state.",
    ),
    "waves_partial_update": (
        "Edit a wave",
        "Edit a wave that has not started. The planned start is `planned_start` (UTC) or "
        "`planned_start_local` (the environment's wall-clock time), not both.",
    ),
    "waves_start": ("Start a wave now", None),
    "waves_pause": ("Pause a wave", None),
    "waves_resume": ("Resume a wave", None),
    "waves_abort": ("Abort a wave", None),
    "waves_rollback": ("Roll a wave back", None),
    "waves_skip": ("Skip a wave", None),
    "waves_confirm": ("Confirm a manual deploy", None),
    "waves_report": ("Report a deploy's outcome", None),
    "chat_slack_interactions": ("Act on a button pressed in a Slack message", None),
    "waves_deploy_calls_list": ("List a wave's deploy calls", None),
    "waves_checks_list": ("List a wave's checks", "A wave's verification checks, in order."),
    "waves_checks_create": (
        "Add a check to a wave",
        "Add an http, metric or manual check that runs during the wave's bake; N consecutive "
        "failures fail the wave.",
    ),
    "waves_check_results_list": ("List a wave's check results", None),
    "checks_confirm": ("Give a manual check's verdict", None),
    "waves_signoff_requirement_list": (
        "Read a wave's sign-off requirement",
        "A wave's own sign-off requirement, e.g. 1 × business_owner before prod-eu.",
    ),
    "waves_signoff_requirement_set": (
        "Set a wave's sign-off requirement",
        "Require N approvals from a role before this wave starts; count 0 removes it.",
    ),
    "waves_signoffs_list": ("List a wave's sign-offs", None),
    "waves_signoffs_create": ("Sign a wave off", None),
    # Announcements
    "releases_announcements_list": (
        "List a release's announcements",
        "What changes for end users, when, and where to learn it.",
    ),
    "releases_announcements_create": (
        "Write an announcement",
        "Add an announcement for end users to this release.",
    ),
    "announcements_retrieve": ("Read an announcement", "One announcement for end users."),
    "announcements_partial_update": (
        "Edit an announcement",
        "Change an announcement's title, text or links.",
    ),
    "announcements_destroy": ("Delete an announcement", "Remove an announcement from the release."),
    # Outbound notification webhooks
    "notification_webhooks_list": (
        "List notification webhooks",
        "Receivers of release events (chat bots, dashboards), without their secrets. Release "
        "managers and administrators only, for reading too.",
    ),
    "notification_webhooks_create": (
        "Add a notification webhook",
        "Add a receiver of release events: its name, URL and signing secret (write-only).",
    ),
    "notification_webhooks_retrieve": (
        "Read a notification webhook",
        "One receiver of release events, without its secret.",
    ),
    "notification_webhooks_partial_update": (
        "Edit a notification webhook",
        "Change a receiver's name, URL, secret or whether it is active.",
    ),
    "notification_webhooks_destroy": (
        "Remove a notification webhook",
        "Stop sending release events to this receiver.",
    ),
    # Environments, windows, freezes, stop the line
    "environments_list": (
        "List environments",
        "Where releases are deployed; a region is an environment of its own. The deploy secret "
        "is never shown: `deploy_secret_set` says whether one is stored.",
    ),
    "environments_create": (
        "Create an environment",
        "Add an environment with its tier, region, IANA time zone, health URL and, for the "
        "webhook deployer, its deploy tool's URL and signing secret (write-only).",
    ),
    "environments_retrieve": (
        "Read an environment",
        "One environment; the deploy secret is never shown, only whether one is set.",
    ),
    "environments_partial_update": (
        "Edit an environment",
        "Change any of an environment's fields, the deploy URL and secret included (an empty "
        "`deploy_secret` removes it). Unknown fields are refused (400).",
    ),
    "environments_deployment_windows_list": (
        "List an environment's deployment windows",
        "When changes to an environment are allowed: weekdays and local hours. An environment "
        "without windows allows changes at any time.",
    ),
    "environments_deployment_windows_create": (
        "Add a deployment window",
        "Allow changes on these weekdays between two local times.",
    ),
    "deployment_windows_retrieve": ("Read a deployment window", "One deployment window."),
    "deployment_windows_destroy": (
        "Remove a deployment window",
        "Remove a deployment window; waiting waves look at the calendar again at once.",
    ),
    "freeze_windows_list": (
        "List freezes",
        "Blackouts: no wave starts in their scope between start and end.",
    ),
    "freeze_windows_create": (
        "Declare a freeze",
        "A blackout for one environment, a region or everywhere, with its reason.",
    ),
    "freeze_windows_retrieve": ("Read a freeze", "One freeze window with who declared it."),
    "freeze_windows_partial_update": (
        "Move or reword a freeze",
        "Change a freeze's start, end or reason. Shortening a freeze in force (an earlier end "
        "or a later start) needs a `change_reason`.",
    ),
    "freeze_windows_destroy": (
        "Lift a freeze",
        "Remove a freeze altogether. A freeze in force needs a `reason` (query parameter).",
    ),
    "stop_the_line_retrieve": (
        "Read the stop-the-line switch",
        "Whether the line is stopped, why, by whom and since when.",
    ),
    "stop_the_line_set": (
        "Stop or restart the line",
        "Pulling the switch (with a reason) halts every running wave at once and none starts "
        "until it is lifted.",
    ),
    "freeze_windows_lift": ("Approve lifting an incident freeze", None),
    # Incidents
    "incidents_list": ("List incidents", None),
    "incidents_hook": ("Report an incident (source webhook)", None),
    "incident_sources_list": ("List incident sources", None),
    "incident_sources_create": (
        "Add an incident source",
        "Add a source of incident webhooks with its routes (the platform role). The answer holds "
        "the bearer token of an Alertmanager or generic source, shown this once.",
    ),
    # Audit
    "audit_events_list": ("List audit events", None),
    "audit_events_retrieve": (
        "Read an audit event",
        "One audit event: who, what, when, before and after, why, and its hash in the chain.",
    ),
    "audit_events_export": ("Export audit events", None),
}


def describe_operations(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Give every operation the summary (and, where set, the description) named above, unless
    its view already gave one with `extend_schema`."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            summary, description = OPERATIONS.get(operation["operationId"], (None, None))
            if summary and not operation.get("summary"):
                operation["summary"] = summary
            if description:
                operation["description"] = description
    return result
