import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


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
