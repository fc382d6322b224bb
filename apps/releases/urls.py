from django.urls import path

from . import views, views_forms

app_name = "releases"

urlpatterns: list = [
    path("", views_forms.release_list, name="list"),
    path("releases/new/", views_forms.release_new, name="new"),
    path("releases/<int:release_id>/", views.release_detail, name="detail"),
    path("releases/<int:release_id>/live/", views.release_live, name="live"),
    path("releases/<int:release_id>/edit/", views_forms.release_edit, name="edit"),
    path("releases/<int:release_id>/signoff/", views.signoff_submit, name="signoff"),
    path("releases/<int:release_id>/move/", views.move_submit, name="move"),
    path(
        "releases/<int:release_id>/checklist/<int:item_id>/",
        views.checklist_set,
        name="checklist_set",
    ),
    path("releases/<int:release_id>/tests/", views.case_add, name="test_add"),
    path(
        "releases/<int:release_id>/tests/<int:case_id>/",
        views.case_record,
        name="test_record",
    ),
    path("releases/<int:release_id>/defects/", views.defect_open, name="defect_open"),
    path(
        "releases/<int:release_id>/defects/<int:defect_id>/close/",
        views.defect_close,
        name="defect_close",
    ),
    path(
        "releases/<int:release_id>/announcements/",
        views.announcement_add,
        name="announcement_add",
    ),
    path("releases/<int:release_id>/review/", views.review_submit, name="review"),
]
