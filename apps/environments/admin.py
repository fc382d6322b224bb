from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from apps.core.egress import validate_url

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

    def formfield_for_dbfield(
        self, db_field: "models.Field[Any, Any]", request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name == "deploy_url":
            field.validators.append(validate_url)  # the deploy tool must be one we may reach
        return field


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
