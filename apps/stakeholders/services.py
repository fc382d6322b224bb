from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from apps.accounts.permissions import Action, require
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.core.validation import clean_id, clean_text
from apps.releases import rules
from apps.releases.services import get_release, record_change

from .models import Stakeholder, StakeholderRole


def _role(slug: Any) -> StakeholderRole:
    slug = clean_text(slug, field="role", max_length=32, required=True)
    try:
        return StakeholderRole.objects.get(slug=slug)
    except StakeholderRole.DoesNotExist:
        known = ", ".join(StakeholderRole.objects.values_list("slug", flat=True))
        raise ServiceError(
            f"Unknown stakeholder role {slug!r}; known roles: {known}.", field="role"
        ) from None


def stakeholder_add(*, release_id: Any, user_id: Any, role: Any, actor: Any) -> Stakeholder:
    """Name a person as a stakeholder of a release in a role; adding the same twice is a no-op."""
    role_obj = _role(role)
    User = get_user_model()
    try:
        user = User.objects.get(pk=clean_id(user_id, field="user"), is_active=True)
    except User.DoesNotExist:
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


def stakeholder_remove(*, stakeholder_id: Any, actor: Any) -> None:
    with transaction.atomic():
        try:
            stakeholder = Stakeholder.objects.select_related("release", "user", "role").get(
                pk=clean_id(stakeholder_id, field="stakeholder")
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
