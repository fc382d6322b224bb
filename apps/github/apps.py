from django.apps import AppConfig


class GithubConfig(AppConfig):
    name = "apps.github"
    label = "github"
    verbose_name = "GitHub deployment protection"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from apps.releases.signals import release_moved
        from apps.rollouts.models import Wave

        from . import hooks

        release_moved.connect(hooks.release_moved, dispatch_uid="github.release_moved")
        post_save.connect(hooks.wave_saved, sender=Wave, dispatch_uid="github.wave_saved")
