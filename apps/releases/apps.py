from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "apps.releases"
    label = "releases"

    def ready(self) -> None:
        from apps.accounts.permissions import visible_teams
        from apps.audit.selectors import register_visible_releases

        from .models import Release

        def visible_release_ids(user):  # type: ignore[no-untyped-def]
            teams = visible_teams(user)
            if teams is None:
                return None
            return Release.objects.filter(application__team__in=teams).values("pk")

        register_visible_releases(visible_release_ids)
