"""The audit log's filters, read from the query string."""

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from apps.releases.models import Release

from .models import AuditEvent


class ReleaseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.application.name} {obj.version}"


class AuditFilterForm(forms.Form):
    release = ReleaseChoiceField(
        queryset=Release.objects.select_related("application").order_by(
            "application__name", "-created_at"
        ),
        required=False,
        empty_label="Any release",
    )
    actor = forms.CharField(
        max_length=150,
        required=False,
        label="Who",
        widget=forms.TextInput(attrs={"placeholder": "username or system"}),
    )
    verb = forms.CharField(
        max_length=64,
        required=False,
        label="Action",
        help_text="Matches actions that start with it: signoff, release.moved …",
        widget=forms.TextInput(attrs={"placeholder": "e.g. signoff"}),
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end of the range is before its start.")
        return data

    def filter(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        """Apply the valid filters; days are whole days of the viewer's time zone."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        if data.get("release"):
            events = events.filter(release_id=data["release"].pk)
        if data.get("actor"):
            events = events.filter(actor_label=data["actor"])
        if data.get("verb"):
            events = events.filter(verb__startswith=data["verb"])
        if data.get("date_from"):
            events = events.filter(
                at__gte=timezone.make_aware(datetime.combine(data["date_from"], time.min))
            )
        if data.get("date_to"):
            end = data["date_to"] + timedelta(days=1)
            events = events.filter(at__lt=timezone.make_aware(datetime.combine(end, time.min)))
        return events

    @property
    def narrowed(self) -> bool:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return any(data.get(name) for name in self.fields)
