from django.urls import path

from .views import console, scheduler, wave_extras

app_name = "rollouts"

urlpatterns: list = [
    path("releases/<int:release_id>/plan/", scheduler.scheduler, name="scheduler"),
    path("releases/<int:release_id>/plan/preview/", scheduler.scheduler_preview, name="preview"),
    path("releases/<int:release_id>/plan/save/", scheduler.scheduler_save, name="save"),
    path("releases/<int:release_id>/plan/strategy/", scheduler.strategy_apply, name="strategy"),
    path(
        "releases/<int:release_id>/plan/waves/<int:wave_id>/requirement/",
        wave_extras.requirement_set,
        name="requirement",
    ),
    path(
        "releases/<int:release_id>/plan/waves/<int:wave_id>/checks/",
        wave_extras.check_create,
        name="check_add",
    ),
    path("releases/<int:release_id>/console/", console.console, name="console"),
    path("releases/<int:release_id>/console/live/", console.console_live, name="console_live"),
    path(
        "releases/<int:release_id>/console/waves/<int:wave_id>/<slug:action>/confirm/",
        console.operate_confirm,
        name="confirm",
    ),
    path(
        "releases/<int:release_id>/console/waves/<int:wave_id>/<slug:action>/",
        console.operate,
        name="operate",
    ),
]
