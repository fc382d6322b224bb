from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "apps.environments"
    label = "environments"

    def ready(self) -> None:
        from apps.accounts.roles import register_tiers

        from .models import Tier

        register_tiers(list(Tier.choices))  # an operator's grant may be limited to these
