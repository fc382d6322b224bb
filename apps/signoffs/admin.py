from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ApprovalLink, SignOff, SignoffRequirement


@admin.register(SignoffRequirement)
class SignoffRequirementAdmin(admin.ModelAdmin):
    list_display = ["release", "role", "count", "wave"]


@admin.register(SignOff)
class SignOffAdmin(admin.ModelAdmin):
    list_display = ["release", "signer", "role", "decision", "created_at"]
    list_filter = ["decision"]
    # A verdict is evidence: shown, never edited.
    readonly_fields = [f.name for f in SignOff._meta.fields]


@admin.register(ApprovalLink)
class ApprovalLinkAdmin(admin.ModelAdmin):
    """Mailed approval links, for following one up: made by the mail, used or refused through
    apps.signoffs.links, never written here."""

    list_display = [
        "release",
        "wave",
        "user",
        "role",
        "created_at",
        "expires_at",
        "used_at",
        "void_reason",
    ]
    list_filter = ["void_reason"]
    readonly_fields = [f.name for f in ApprovalLink._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
