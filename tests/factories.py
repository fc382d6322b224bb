"""factory_boy factories. Rows straight into the database: for arranging a test, never for acting."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.accounts.models import RoleGrant, Team
from apps.environments.models import Environment
from apps.releases.models import Application, Release


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("pw")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


def give(user, *roles: str, team: Team | None = None, tiers: tuple[str, ...] = ()) -> None:
    """Grant `user` each role in `team` (organisation-wide without one), as an arrangement."""
    for role in roles:
        user.role_grants.create(role=role, team=team, tiers=list(tiers))


def revoke_all(user) -> None:
    """Take every role `user` holds."""
    RoleGrant.objects.filter(user=user).delete()
    user.refresh_from_db()  # also forgets the grants read earlier


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"App {n}")
    slug = factory.Sequence(lambda n: f"app-{n}")


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"env-{n}")
    tier = "production"
    region = "eu"
    time_zone = "Europe/Berlin"


class ReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Release

    application = factory.SubFactory(ApplicationFactory)
    name = factory.LazyAttribute(lambda r: f"{r.application.name} {r.version}")
    version = factory.Sequence(lambda n: f"1.{n}.0")
    build_ref = factory.Sequence(lambda n: f"build-{n}")
    scope = "New invoice screen; faster search."
    owner = factory.SubFactory(UserFactory)
    created_by = factory.SelfAttribute("owner")
    planned_start = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    planned_end = factory.LazyFunction(lambda: timezone.now() + timedelta(days=8))
    phase = "planning"
    phase_entered_at = factory.LazyFunction(timezone.now)
    fingerprint = factory.LazyAttribute(
        lambda r: Release(
            version=r.version, build_ref=r.build_ref, scope=r.scope
        ).compute_fingerprint()
    )
