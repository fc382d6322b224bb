"""The release list and forms. The release page and its buttons are apps.pages', mounted under
this same `releases` namespace by config/urls.py."""

from django.urls import path

from . import views_forms

app_name = "releases"

urlpatterns: list = [
    path("", views_forms.release_list, name="list"),
    path("releases/new/", views_forms.release_new, name="new"),
    path("releases/<int:release_id>/edit/", views_forms.release_edit, name="edit"),
]
