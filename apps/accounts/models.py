import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .roles import Role


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone.")


class Profile(models.Model):
    """What a person prefers: the time zone the pages show times in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


class ApiToken(models.Model):
    """A per-user API key. Only its SHA-256 is stored; the key itself is shown once, at creation.

    The key carries 256 random bits, so a plain fast hash is enough: nobody can guess or
    brute-force a preimage, and a fast lookup by hash keeps every API request cheap.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    # The key's first characters, so an owner can tell their tokens apart.
    prefix = models.CharField(max_length=8)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"


class Team(models.Model):
    """A group of people that owns applications; roles are held in a team."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GrantSource(models.TextChoices):
    MANUAL = "manual", "Granted by hand"
    SSO = "sso", "From the identity provider's groups"


class RoleGrant(models.Model):
    """One role a person holds: in a team, or organisation-wide when `team` is empty.

    An operator's grant may name environment tiers it is limited to; empty means every tier.
    A grant from single sign-on is replaced at each sign-in; a manual one stays until revoked.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="grants"
    )
    tiers = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=8, choices=GrantSource.choices, default=GrantSource.MANUAL)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role", "team_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "team"],
                condition=models.Q(team__isnull=False),
                name="one_grant_per_team",
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(team__isnull=True),
                name="one_org_grant",
            ),
        ]

    def __str__(self) -> str:
        where = self.team.name if self.team is not None else "organisation"
        return f"{self.user} is {self.get_role_display()} in {where}"


class UserSession(models.Model):
    """A session a person signed in with, so deactivating them can end every one of them.

    Written at sign-in, removed at sign-out; a row whose session has since expired is harmless
    (ending it again deletes nothing)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session of {self.user} since {self.created_at:%Y-%m-%d %H:%M}"
