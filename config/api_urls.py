"""Every URL under /api/: version 1 of the REST API, its OpenAPI schema and its docs."""

from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.accounts import api as accounts
from apps.accounts import people_api as people
from apps.audit import api as audit
from apps.environments import api as environments
from apps.github import api as github
from apps.incidents import api as incidents
from apps.notifications import api as notifications
from apps.pages import api as pages
from apps.releases import api as releases
from apps.rollouts import api as rollouts
from apps.signoffs import api as signoffs
from apps.stakeholders import api as stakeholders


class IdConverter:
    """A positive database id. Longer numbers would overflow a bigint: they are simply not found."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

app_name = "api"

v1 = [
    # People and access
    path("me/", accounts.MeView.as_view(), name="me"),
    path("users/", people.UserListView.as_view(), name="users"),
    path("users/<id:id>/", people.UserDetailView.as_view(), name="user"),
    path("users/<id:id>/deactivate/", people.UserDeactivateView.as_view(), name="user-deactivate"),
    path("users/<id:id>/reactivate/", people.UserReactivateView.as_view(), name="user-reactivate"),
    path(
        "users/<id:id>/set-password-link/",
        people.UserSetPasswordLinkView.as_view(),
        name="user-set-password-link",
    ),
    path("teams/", people.TeamListView.as_view(), name="teams"),
    path("teams/<id:id>/", people.TeamDetailView.as_view(), name="team"),
    path("teams/<id:id>/members/", people.TeamMemberListView.as_view(), name="team-members"),
    path(
        "teams/<id:id>/members/<id:grant_id>/",
        people.TeamMemberDetailView.as_view(),
        name="team-member",
    ),
    path("grants/", people.GrantListView.as_view(), name="grants"),
    path("grants/<id:id>/", people.GrantDetailView.as_view(), name="grant"),
    path("tokens/", accounts.TokenListView.as_view(), name="tokens"),
    path("tokens/<id:id>/", accounts.TokenDetailView.as_view(), name="token"),
    # Applications and releases
    path("applications/", releases.ApplicationListView.as_view(), name="applications"),
    path("applications/<id:id>/", releases.ApplicationDetailView.as_view(), name="application"),
    path("releases/", releases.ReleaseListView.as_view(), name="releases"),
    path("releases/<id:id>/", releases.ReleaseDetailView.as_view(), name="release"),
    path(
        "releases/<id:release_id>/status/",
        releases.ReleaseStatusView.as_view(),
        name="release-status",
    ),
    path(
        "releases/<id:release_id>/transition/",
        releases.TransitionView.as_view(),
        name="release-transition",
    ),
    path("releases/<id:release_id>/moves/", releases.MoveListView.as_view(), name="moves"),
    path("moves/<id:id>/", releases.MoveDetailView.as_view(), name="move"),
    path(
        "releases/<id:release_id>/checklist-items/",
        releases.ChecklistListView.as_view(),
        name="checklist-items",
    ),
    path("checklist-items/<id:id>/", releases.ChecklistDetailView.as_view(), name="checklist-item"),
    path(
        "checklist-items/<id:id>/waive/",
        releases.ChecklistWaiveView.as_view(),
        name="checklist-item-waive",
    ),
    path(
        "releases/<id:release_id>/test-cases/",
        releases.TestCaseListView.as_view(),
        name="test-cases",
    ),
    path("test-cases/<id:id>/", releases.TestCaseDetailView.as_view(), name="test-case"),
    path("test-cases/<id:id>/waive/", releases.TestCaseWaiveView.as_view(), name="test-case-waive"),
    path("releases/<id:release_id>/defects/", releases.DefectListView.as_view(), name="defects"),
    path("defects/<id:id>/", releases.DefectDetailView.as_view(), name="defect"),
    path("defects/<id:id>/close/", releases.DefectCloseView.as_view(), name="defect-close"),
    path("releases/<id:release_id>/review/", releases.ReviewView.as_view(), name="review"),
    # Stakeholders and sign-offs
    path(
        "stakeholder-roles/",
        stakeholders.StakeholderRoleListView.as_view(),
        name="stakeholder-roles",
    ),
    path(
        "releases/<id:release_id>/stakeholders/",
        stakeholders.StakeholderListView.as_view(),
        name="stakeholders",
    ),
    path("stakeholders/<id:id>/", stakeholders.StakeholderDetailView.as_view(), name="stakeholder"),
    path(
        "releases/<id:release_id>/signoff-policy/",
        signoffs.PolicyView.as_view(),
        name="signoff-policy",
    ),
    path("releases/<id:release_id>/signoffs/", signoffs.SignOffListView.as_view(), name="signoffs"),
    path("signoffs/<id:id>/", signoffs.SignOffDetailView.as_view(), name="signoff"),
    # Rollout plan and waves
    path(
        "releases/<id:release_id>/rollout-plan/", rollouts.PlanView.as_view(), name="rollout-plan"
    ),
    path("releases/<id:release_id>/waves/", rollouts.WaveListView.as_view(), name="waves"),
    path(
        "releases/<id:release_id>/rollout-plan/apply-strategy/",
        rollouts.ApplyStrategyView.as_view(),
        name="rollout-plan-apply-strategy",
    ),
    path(
        "releases/<id:release_id>/rollout-plan/dry-run/",
        rollouts.DryRunView.as_view(),
        name="rollout-plan-dry-run",
    ),
    path("waves/<id:id>/", rollouts.WaveEditView.as_view(), name="wave"),
    *[
        path(f"waves/<id:id>/{action}/", view.as_view(), name=f"wave-{action}")
        for action, view in rollouts.WAVE_ACTION_VIEWS.items()
    ],
    path("waves/<id:id>/report/", rollouts.WaveReportView.as_view(), name="wave-report"),
    path("waves/<id:id>/deploy-calls/", rollouts.DeployCallListView.as_view(), name="deploy-calls"),
    path("waves/<id:id>/checks/", rollouts.CheckListView.as_view(), name="checks"),
    path(
        "waves/<id:id>/check-results/", rollouts.CheckResultListView.as_view(), name="check-results"
    ),
    path(
        "waves/<id:id>/signoff-requirement/",
        rollouts.WaveRequirementView.as_view(),
        name="wave-signoff-requirement",
    ),
    path("waves/<id:id>/signoffs/", rollouts.WaveSignOffListView.as_view(), name="wave-signoffs"),
    path("checks/<id:id>/confirm/", rollouts.CheckConfirmView.as_view(), name="check-confirm"),
    # Announcements
    path(
        "releases/<id:release_id>/announcements/",
        notifications.AnnouncementListView.as_view(),
        name="announcements",
    ),
    path(
        "announcements/<id:id>/",
        notifications.AnnouncementDetailView.as_view(),
        name="announcement",
    ),
    # Outbound notification webhooks
    path(
        "notification-webhooks/",
        notifications.WebhookListView.as_view(),
        name="notification-webhooks",
    ),
    path(
        "notification-webhooks/<id:id>/",
        notifications.WebhookDetailView.as_view(),
        name="notification-webhook",
    ),
    # Environments, windows, freezes, stop the line
    path("environments/", environments.EnvironmentListView.as_view(), name="environments"),
    path("environments/<id:id>/", environments.EnvironmentDetailView.as_view(), name="environment"),
    path(
        "environments/<id:environment_id>/deployment-windows/",
        environments.DeploymentWindowListView.as_view(),
        name="deployment-windows",
    ),
    path(
        "deployment-windows/<id:id>/",
        environments.DeploymentWindowDetailView.as_view(),
        name="deployment-window",
    ),
    path("freeze-windows/", environments.FreezeWindowListView.as_view(), name="freeze-windows"),
    path(
        "freeze-windows/<id:id>/",
        environments.FreezeWindowDetailView.as_view(),
        name="freeze-window",
    ),
    path(
        "freeze-windows/<id:id>/lift/",
        incidents.FreezeLiftView.as_view(),
        name="freeze-window-lift",
    ),
    path("stop-the-line/", environments.StopTheLineView.as_view(), name="stop-the-line"),
    # GitHub deployment protection (signed by the GitHub App's webhook secret)
    path("github/webhook/", github.GithubWebhookView.as_view(), name="github-webhook"),
    # Incidents: sources' webhooks, and the incidents heard
    path("incidents/", incidents.IncidentListView.as_view(), name="incidents"),
    path("incident-sources/", incidents.IncidentSourceListView.as_view(), name="incident-sources"),
    path(
        "incidents/hooks/<slug:slug>/", incidents.IncidentHookView.as_view(), name="incident-hook"
    ),
    # Audit
    path("audit-events/", audit.AuditEventListView.as_view(), name="audit-events"),
    path("audit-events/export/", audit.AuditExportView.as_view(), name="audit-export"),
    path("audit-events/<id:id>/", audit.AuditEventDetailView.as_view(), name="audit-event"),
    path(
        "releases/<id:release_id>/evidence/",
        pages.EvidencePackView.as_view(),
        name="release-evidence",
    ),
    # Chat: Slack's interactivity request URL
    path(
        "chat/slack/interactions/",
        pages.SlackInteractionsView.as_view(),
        name="chat-slack-interactions",
    ),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
