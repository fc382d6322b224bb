from django.contrib import admin

from .models import FreezeLiftApproval, Incident, IncidentRoute, IncidentSource


class IncidentRouteInline(admin.TabularInline):
    model = IncidentRoute
    extra = 0


@admin.register(IncidentSource)
class IncidentSourceAdmin(admin.ModelAdmin):
    """Sources are made with `manage.py incident_source_create`, which shows the token once;
    here their routes, expiry and lifting on resolve are edited."""

    list_display = ["name", "slug", "kind", "lift_on_resolve", "freeze_hours", "active"]
    list_filter = ["kind", "active"]
    readonly_fields = ["token_sha256"]
    inlines = [IncidentRouteInline]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["external_id", "source", "state", "title", "freeze", "opened_at", "resolved_at"]
    list_filter = ["state", "source"]
    search_fields = ["external_id", "title"]
    readonly_fields = [f.name for f in Incident._meta.fields]


@admin.register(FreezeLiftApproval)
class FreezeLiftApprovalAdmin(admin.ModelAdmin):
    list_display = ["freeze", "user", "reason", "created_at"]
    readonly_fields = ["freeze", "user", "reason", "created_at"]
