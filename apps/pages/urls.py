"""The URLs of these pages keep the names of the apps they show (`releases:detail`,
`signoffs:page`, `audit:page`; the people pages are `people:…`): config/urls.py mounts each list under that namespace."""

from django.urls import path

from . import audit, people, release, signoff, signoff_link

release_patterns = [
    path("releases/<int:release_id>/", release.release_detail, name="detail"),
    path("releases/<int:release_id>/live/", release.release_live, name="live"),
    path("releases/<int:release_id>/signoff/", release.signoff_submit, name="signoff"),
    path("releases/<int:release_id>/move/", release.move_submit, name="move"),
    path(
        "releases/<int:release_id>/checklist/<int:item_id>/",
        release.checklist_set,
        name="checklist_set",
    ),
    path("releases/<int:release_id>/tests/", release.case_add, name="test_add"),
    path(
        "releases/<int:release_id>/tests/<int:case_id>/",
        release.case_record,
        name="test_record",
    ),
    path("releases/<int:release_id>/defects/", release.defect_open, name="defect_open"),
    path(
        "releases/<int:release_id>/defects/<int:defect_id>/close/",
        release.defect_close,
        name="defect_close",
    ),
    path(
        "releases/<int:release_id>/announcements/",
        release.announcement_add,
        name="announcement_add",
    ),
    path("releases/<int:release_id>/review/", release.review_submit, name="review"),
]

signoff_patterns = [
    path("releases/<int:release_id>/sign/", signoff.signoff_page, name="page"),
    path("releases/<int:release_id>/sign/live/", signoff.signoff_live, name="live"),
    path(
        "releases/<int:release_id>/sign/waves/<int:wave_id>/",
        signoff.wave_sign,
        name="wave_sign",
    ),
    path("signoffs/links/<str:token>/", signoff_link.approval_link_page, name="link"),
]

audit_patterns = [
    path("", audit.audit_page, name="page"),
    path("live/", audit.audit_live, name="live"),
    path("export/", audit.audit_export, name="export"),
    path("releases/", audit.audit_release_options, name="release-options"),
    path("verify/", audit.audit_verify_chain, name="verify"),
]

people_patterns = [
    path("", people.people_page, name="people"),
    path("live/", people.people_list_live, name="people_live"),
    path("<int:user_id>/deactivate/", people.person_deactivate, name="deactivate"),
    path("<int:user_id>/reactivate/", people.person_reactivate, name="reactivate"),
    path("<int:user_id>/set-password-link/", people.person_link, name="link"),
    path("grants/", people.org_grant, name="grant"),
    path("grants/<int:grant_id>/revoke/", people.grant_revoke, name="revoke"),
    path("teams/", people.teams_page, name="teams"),
    path("teams/<int:team_id>/", people.team_page, name="team"),
    path("teams/<int:team_id>/live/", people.team_members_live, name="team_live"),
    path("teams/<int:team_id>/rename/", people.team_rename, name="team_rename"),
    path("teams/<int:team_id>/grants/", people.team_grant, name="team_grant"),
    path(
        "teams/<int:team_id>/grants/<int:grant_id>/revoke/",
        people.team_revoke,
        name="team_revoke",
    ),
    path("teams/<int:team_id>/applications/", people.team_assign, name="team_assign"),
    path(
        "teams/<int:team_id>/applications/<int:application_id>/release/",
        people.team_release,
        name="team_release",
    ),
]
