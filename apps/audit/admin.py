from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from .models import AuditCheckpoint, AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only rows: the admin shows them and never adds, edits or deletes one."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "at", "actor_label", "verb", "object_type", "object_id", "release_id"]
    list_filter = ["verb", "object_type"]
    search_fields = ["actor_label", "verb", "object_id", "reason"]
    date_hierarchy = "at"


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["id", "at", "count", "last_id", "head_hash"]
    date_hierarchy = "at"
