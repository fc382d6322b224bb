"""What every page's header needs about the viewer, computed only when a template asks."""

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .permissions import Action, can, is_administrator, user_roles
from .roles import Role


def viewer(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def labels() -> list[str]:
        held = user_roles(user)
        names = [Role(r).label for r in sorted(held - {Role.ADMINISTRATOR}) if r in Role.values]
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
