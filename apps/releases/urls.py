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
]
