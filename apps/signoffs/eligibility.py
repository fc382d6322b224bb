"""Who may sign a release, or one of its waves, off, and as which of its policy roles."""

from django.contrib.auth.models import AnonymousUser, User

from apps.accounts.permissions import APPROVER, holds, is_administrator
from apps.releases.models import Release
from apps.stakeholders.models import Stakeholder

from .models import SignoffRequirement


def signoff_roles(
    user: User | AnonymousUser | None, release: Release, wave_id: int | None = None
) -> list[str]:
    """The policy roles `user` may sign `release` (or the wave `wave_id`) off as; empty when
    they may not sign at all."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if user.pk in (release.owner_id, release.created_by_id):
        return []  # separation of duties
    if not holds(user, {APPROVER}, release) and not is_administrator(user):
        return []
    requirements = SignoffRequirement.objects.filter(release=release)
    requirements = (
        requirements.filter(wave_id=wave_id)
        if wave_id is not None
        else requirements.filter(wave__isnull=True)
    )
    policy_roles = set(requirements.values_list("role__slug", flat=True))
    held = Stakeholder.objects.filter(release=release, user=user).values_list(
        "role__slug", flat=True
    )
    return sorted(set(held) & policy_roles)


def may_sign_off(user: User | AnonymousUser | None, release: Release) -> bool:
    """The answer to `can(user, Action.SIGN_OFF, release)`."""
    return bool(signoff_roles(user, release))
