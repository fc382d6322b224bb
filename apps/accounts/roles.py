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
