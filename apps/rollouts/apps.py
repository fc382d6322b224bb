from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "apps.rollouts"
    label = "rollouts"

    def ready(self) -> None:
        from apps.environments import signals

        from . import hooks

        signals.calendar_changed.connect(hooks.calendar_changed, dispatch_uid="rollouts.calendar")
        signals.stop_the_line_changed.connect(
            hooks.stop_the_line_changed, dispatch_uid="rollouts.stop_the_line"
        )
