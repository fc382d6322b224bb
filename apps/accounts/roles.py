"""The roles a person can hold, each in a team or organisation-wide (see models.RoleGrant)."""

from django.db import models


class Role(models.TextChoices):
    RELEASE_MANAGER = "release_manager", "Release manager"
    APPROVER = "approver", "Approver"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"
    PLATFORM = "platform", "Platform"
    ADMINISTRATOR = "administrator", "Administrator"


# Environments, freezes and people are shared by every team, so these are held
# organisation-wide or not at all.
ORG_ONLY = frozenset({Role.PLATFORM.value, Role.ADMINISTRATOR.value})
# Roles a grant may further limit to environments of some tiers (a staging operator).
TIERED = frozenset({Role.OPERATOR.value})

# The environment tiers a grant may name. apps.environments, which sits above this app and owns
# them, registers them in its AppConfig.ready().
_tiers: list[tuple[str, str]] = []


def register_tiers(choices: list[tuple[str, str]]) -> None:
    _tiers[:] = choices


def tier_choices() -> list[tuple[str, str]]:
    """The tiers as (value, label), lowest first (development, staging, production)."""
    return list(_tiers)


def tier_values() -> list[str]:
    return [value for value, _ in _tiers]
