from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from apps.core.egress import validate_url

from .models import Announcement, Notification, OutboundWebhook


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ["title", "release", "publish_at"]


@admin.register(OutboundWebhook)
class OutboundWebhookAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "active"]

    def formfield_for_dbfield(
        self, db_field: "models.Field[Any, Any]", request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name == "url":
            field.validators.append(validate_url)  # a receiver we may reach
        return field


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["event", "channel", "recipient", "state", "attempts", "created_at"]
    list_filter = ["state", "channel", "event"]
    readonly_fields = [f.name for f in Notification._meta.fields]
