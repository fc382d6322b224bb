from typing import Any

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest

from apps.core.egress import validate_url

from .models import Announcement, ChatIdentity, Notification, OutboundWebhook
from .services import chat_identity_remove, chat_identity_set


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


@admin.register(ChatIdentity)
class ChatIdentityAdmin(admin.ModelAdmin):
    """Administrators link a chat account to a person here; each change is audited."""

    list_display = ["user", "provider", "external_user_id", "updated_at"]
    list_filter = ["provider"]
    search_fields = ["user__username", "external_user_id"]
    raw_id_fields = ["user"]
    actions: list = []  # bulk deletion would skip the audit

    def save_model(self, request: HttpRequest, obj: ChatIdentity, form: Any, change: bool) -> None:
        actor = request.user
        with transaction.atomic():
            # The services key a link by person and provider: a row moved to another person
            # or provider is the old link removed and a new one set, both audited.
            if change and {"user", "provider"} & set(form.changed_data):
                chat_identity_remove(identity_id=obj.pk, actor=actor)  # type: ignore[arg-type]
            saved = chat_identity_set(
                user=obj.user,
                provider=obj.provider,
                external_user_id=obj.external_user_id,
                actor=actor,  # type: ignore[arg-type]
            )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: ChatIdentity) -> None:
        chat_identity_remove(identity_id=obj.pk, actor=request.user)  # type: ignore[arg-type]
