from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "at", "actor_label", "verb", "object_type", "object_id", "release_id"]
    list_filter = ["verb", "object_type"]
    search_fields = ["actor_label", "verb", "object_id", "reason"]
    date_hierarchy = "at"

    # Append-only: the admin shows events and never edits or deletes them.
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
