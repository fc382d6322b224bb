from typing import Any

from django.contrib import admin

from .models import (
    Application,
    ChecklistItem,
    Defect,
    PhaseMove,
    PostReleaseReview,
    Release,
    TestCase,
)


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["name", "application", "version", "phase", "owner", "planned_start"]
    list_filter = ["phase", "application"]
    search_fields = ["name", "version", "build_ref"]
    # Phase and content fingerprint change only through the lifecycle services.
    readonly_fields = ["phase", "phase_entered_at", "fingerprint", "hypercare_until", "revision"]

    def get_readonly_fields(self, request: Any, obj: Release | None = None) -> list[str]:
        # A release's application is fixed once it exists: its waves keep a copy of it.
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, "application"]


@admin.register(PhaseMove)
class PhaseMoveAdmin(admin.ModelAdmin):
    list_display = ["release", "from_phase", "to_phase", "state", "requested_by", "created_at"]
    list_filter = ["state", "to_phase"]
    readonly_fields = [f.name for f in PhaseMove._meta.fields]


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ["title", "release", "environment", "area", "status"]
    list_filter = ["status", "area", "environment"]


@admin.register(TestCase)
class TestCaseAdmin(admin.ModelAdmin):
    list_display = ["title", "release", "status"]
    list_filter = ["status"]


@admin.register(Defect)
class DefectAdmin(admin.ModelAdmin):
    list_display = ["title", "release", "severity", "status"]
    list_filter = ["severity", "status"]


@admin.register(PostReleaseReview)
class PostReleaseReviewAdmin(admin.ModelAdmin):
    list_display = ["release", "written_by", "updated_at"]
