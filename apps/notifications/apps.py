from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"

    def ready(self) -> None:
        from apps.releases.signals import release_moved

        from . import checks  # noqa: F401 - registers the start-up checks
        from .hooks import release_moved_tell

        release_moved.connect(release_moved_tell, dispatch_uid="notifications.release_moved")
