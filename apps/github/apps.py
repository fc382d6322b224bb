from django.apps import AppConfig


class GithubConfig(AppConfig):
    name = "apps.github"
    label = "github"
    verbose_name = "GitHub deployment protection"

    def ready(self) -> None:
        from apps.releases.signals import release_moved
        from apps.rollouts.signals import wave_moved

        from . import hooks

        release_moved.connect(hooks.release_moved, dispatch_uid="github.release_moved")
        wave_moved.connect(hooks.wave_moved, dispatch_uid="github.wave_moved")
