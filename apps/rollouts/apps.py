from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "apps.rollouts"
    label = "rollouts"

    def ready(self) -> None:
        from apps.environments import signals
        from apps.signoffs.links import WaveDecider, register_wave_decider

        from . import hooks
        from .wave_signoffs import wave_link_give, wave_signoff_asked

        signals.calendar_changed.connect(hooks.calendar_changed, dispatch_uid="rollouts.calendar")
        signals.stop_the_line_changed.connect(
            hooks.stop_the_line_changed, dispatch_uid="rollouts.stop_the_line"
        )
        register_wave_decider(WaveDecider(asked=wave_signoff_asked, give=wave_link_give))
