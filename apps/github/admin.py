from django.contrib import admin

from .models import DeploymentProtectionRequest


@admin.register(DeploymentProtectionRequest)
class DeploymentProtectionRequestAdmin(admin.ModelAdmin):
    list_display = ["repository", "environment_name", "sha", "release", "verdict", "answer_state"]
    list_filter = ["verdict", "answer_state"]
    search_fields = ["repository", "sha", "ref", "delivery_id"]
    readonly_fields = [f.name for f in DeploymentProtectionRequest._meta.fields]
