"""What every page's header needs about the viewer, computed only when a template asks."""

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import Team
from .permissions import Action, can, grants, is_administrator
from .roles import Role


def viewer(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def labels() -> list[str]:
        # One label per grant, naming where it acts: "Release manager · CRM team". Team names
        # cost a query only for someone who holds a role in a team.
        held = [g for g in grants(user) if g.role != Role.ADMINISTRATOR and g.role in Role.values]
        team_ids = {g.team_id for g in held if g.team_id is not None}
        teams = (
            dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "name")) if team_ids else {}
        )
        names = []
        for grant in sorted(held, key=lambda g: (g.role, teams.get(g.team_id, ""))):
            label = Role(grant.role).label
            if grant.tiers:
                label += f" ({', '.join(grant.tiers)})"
            if grant.team_id in teams:
                label += f" · {teams[grant.team_id]}"
            names.append(label)
        return (["Administrator"] if is_administrator(user) else []) + names

    return {
        "viewer_roles": SimpleLazyObject(labels),
        # Navigation shows each person only the places their roles open.
        "nav_can_view": SimpleLazyObject(
            lambda: {
                "yes": can(user, Action.VIEW),
                "webhooks": can(user, Action.MANAGE_WEBHOOKS),
                "people": is_administrator(user),
            }
        ),
    }
