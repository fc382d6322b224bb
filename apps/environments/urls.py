from django.urls import path

from . import views

app_name = "environments"

urlpatterns = [
    path("", views.environments_page, name="page"),
    path("live/", views.environments_live, name="live"),
    path("new/", views.environment_create, name="create"),
    path("<int:environment_id>/edit/", views.environment_edit, name="edit"),
    path("<int:environment_id>/windows/", views.window_add, name="window_add"),
    path("windows/<int:window_id>/remove/", views.window_remove, name="window_remove"),
    path("freezes/", views.freeze_create, name="freeze_create"),
    path("freezes/<int:freeze_id>/edit/", views.freeze_edit, name="freeze_edit"),
    path("freezes/<int:freeze_id>/remove/", views.freeze_remove, name="freeze_remove"),
]
