from django.contrib import admin

from .models import Announcement, Notification, OutboundWebhook


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ["title", "release", "publish_at"]


@admin.register(OutboundWebhook)
class OutboundWebhookAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "active"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["event", "channel", "recipient", "state", "attempts", "created_at"]
    list_filter = ["state", "channel", "event"]
    readonly_fields = [f.name for f in Notification._meta.fields]
