from django.contrib import admin

from .models import SignOff, SignoffRequirement


@admin.register(SignoffRequirement)
class SignoffRequirementAdmin(admin.ModelAdmin):
    list_display = ["release", "role", "count", "wave"]


@admin.register(SignOff)
class SignOffAdmin(admin.ModelAdmin):
    list_display = ["release", "signer", "role", "decision", "created_at"]
    list_filter = ["decision"]
    # A verdict is evidence: shown, never edited.
    readonly_fields = [f.name for f in SignOff._meta.fields]
