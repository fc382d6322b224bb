"""User roles are Django groups with these names; a user may hold several."""

from django.contrib.auth.models import Group
from django.db import models


class Role(models.TextChoices):
    RELEASE_MANAGER = "release_manager", "Release manager"
    APPROVER = "approver", "Approver"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


def ensure_groups() -> None:
    """Create the role groups if they are missing (idempotent)."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)
