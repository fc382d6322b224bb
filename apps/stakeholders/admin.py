from django.contrib import admin

from .models import Stakeholder, StakeholderRole


@admin.register(StakeholderRole)
class StakeholderRoleAdmin(admin.ModelAdmin):
    list_display = ["slug", "name"]


@admin.register(Stakeholder)
class StakeholderAdmin(admin.ModelAdmin):
    list_display = ["release", "user", "role"]
    list_filter = ["role"]
