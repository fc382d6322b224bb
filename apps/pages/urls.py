"""The URLs of these pages keep the names of the apps they show (`releases:detail`,
`signoffs:page`, `audit:page`): config/urls.py mounts each list under that namespace."""

from django.urls import path

from . import audit, release, signoff, signoff_link

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
