from django.urls import path

from . import views, views_console

app_name = "rollouts"

urlpatterns: list = [
    path("releases/<int:release_id>/plan/", views.scheduler, name="scheduler"),
    path("releases/<int:release_id>/plan/preview/", views.scheduler_preview, name="preview"),
    path("releases/<int:release_id>/plan/save/", views.scheduler_save, name="save"),
    path("releases/<int:release_id>/plan/strategy/", views.strategy_apply, name="strategy"),
    path(
        "releases/<int:release_id>/plan/waves/<int:wave_id>/requirement/",
        views.requirement_set,
        name="requirement",
    ),
    path(
        "releases/<int:release_id>/plan/waves/<int:wave_id>/checks/",
        views.check_create,
        name="check_add",
    ),
    path("releases/<int:release_id>/console/", views_console.console, name="console"),
    path(
        "releases/<int:release_id>/console/live/", views_console.console_live, name="console_live"
    ),
    path(
        "releases/<int:release_id>/console/waves/<int:wave_id>/<slug:action>/confirm/",
        views_console.operate_confirm,
        name="confirm",
    ),
    path(
        "releases/<int:release_id>/console/waves/<int:wave_id>/<slug:action>/",
        views_console.operate,
        name="operate",
    ),
]
