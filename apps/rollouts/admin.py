from django.contrib import admin

from .models import Check, CheckResult, DeployCall, RolloutPlan, Wave


class WaveInline(admin.TabularInline):
    model = Wave
    extra = 0
    fields = ["position", "name", "environment", "percentage", "state"]
    readonly_fields = ["state"]


@admin.register(RolloutPlan)
class RolloutPlanAdmin(admin.ModelAdmin):
    list_display = ["release", "strategy"]
    inlines = [WaveInline]


@admin.register(Wave)
class WaveAdmin(admin.ModelAdmin):
    list_display = ["name", "plan", "environment", "percentage", "state", "scheduled_at"]
    list_filter = ["state", "environment"]
    readonly_fields = ["state", "state_reason", "started_at", "finished_at", "next_step_at"]


@admin.register(Check)
class CheckAdmin(admin.ModelAdmin):
    list_display = ["name", "wave", "kind", "interval_seconds", "failures_to_fail"]


@admin.register(CheckResult)
class CheckResultAdmin(admin.ModelAdmin):
    list_display = ["wave_check", "wave", "at", "ok", "value"]
    list_filter = ["ok"]
    readonly_fields = [f.name for f in CheckResult._meta.fields]


@admin.register(DeployCall)
class DeployCallAdmin(admin.ModelAdmin):
    list_display = ["wave", "action", "round", "state", "attempts", "response_status", "sent_at"]
    list_filter = ["state", "action"]
    readonly_fields = [f.name for f in DeployCall._meta.fields]
