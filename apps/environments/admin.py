from django.contrib import admin

from .models import DeploymentWindow, Environment, FreezeWindow, StopTheLine


class DeploymentWindowInline(admin.TabularInline):
    model = DeploymentWindow
    extra = 0


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["name", "tier", "region", "time_zone"]
    list_filter = ["tier", "region"]
    search_fields = ["name", "region"]
    inlines = [DeploymentWindowInline]


@admin.register(DeploymentWindow)
class DeploymentWindowAdmin(admin.ModelAdmin):
    list_display = ["environment", "weekdays", "start_time", "end_time"]


@admin.register(FreezeWindow)
class FreezeWindowAdmin(admin.ModelAdmin):
    list_display = ["reason", "scope", "environment", "region", "start", "end"]
    list_filter = ["scope"]


@admin.register(StopTheLine)
class StopTheLineAdmin(admin.ModelAdmin):
    list_display = ["active", "reason", "changed_by", "changed_at"]
