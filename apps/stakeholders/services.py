"""Writes naming the people who hold a role on a release."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction

from apps.accounts.permissions import Action, require
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.releases import rules
from apps.releases.services import get_release, record_change

from .models import Stakeholder, StakeholderRole


def _role(slug: str) -> StakeholderRole:
    try:
        return StakeholderRole.objects.get(slug=slug)
    except StakeholderRole.DoesNotExist:
        known = ", ".join(StakeholderRole.objects.values_list("slug", flat=True))
        raise ServiceError(
            f"Unknown stakeholder role {slug!r}; known roles: {known}.", field="role"
        ) from None


def stakeholder_add(*, release_id: int, user_id: int, role: str, actor: User) -> Stakeholder:
    """Name a person as a stakeholder of a release in a role; adding the same twice is a no-op."""
    role_obj = _role(role)
    try:
        user = get_user_model().objects.get(pk=user_id, is_active=True)
    except ObjectDoesNotExist:
        raise ServiceError("No such active user.", field="user") from None
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.MANAGE_STAKEHOLDERS, release)
        if release.phase in rules.TERMINAL:
            raise Conflict(f"A {release.phase} release cannot be changed.")
        existing = Stakeholder.objects.filter(release=release, user=user, role=role_obj).first()
        if existing:
            return existing
        try:
            with transaction.atomic():
                stakeholder = Stakeholder.objects.create(release=release, user=user, role=role_obj)
        except IntegrityError:
            return Stakeholder.objects.get(release=release, user=user, role=role_obj)
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="stakeholder.added",
            obj=stakeholder,
            after={"user": user.get_username(), "role": role_obj.slug},
        )
    return stakeholder


def stakeholder_remove(*, stakeholder_id: int, actor: User) -> None:
    """Take a person's role on a release away again."""
    with transaction.atomic():
        try:
            stakeholder = Stakeholder.objects.select_related("release", "user", "role").get(
                pk=stakeholder_id
            )
        except Stakeholder.DoesNotExist:
            raise NotFound("No such stakeholder.", field="stakeholder") from None
        release = get_release(stakeholder.release_id, lock=True)
        require(actor, Action.MANAGE_STAKEHOLDERS, release)
        if release.phase in rules.TERMINAL:
            raise Conflict(f"A {release.phase} release cannot be changed.")
        before = {"user": stakeholder.user.get_username(), "role": stakeholder.role.slug}
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="stakeholder.removed",
            obj=stakeholder,
            before=before,
        )
        stakeholder.delete()
