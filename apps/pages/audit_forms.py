"""The audit log's filters, read from the query string."""

from datetime import datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.releases.models import Release

# The release filter offers this many releases (the newest, plus the one chosen); a search
# box finds any other. Listing every release made the page grow with the history.
RELEASES_OFFERED = 50
CURSORS = ("before", "after")


def release_label(release: Release) -> str:
    return f"{release.application.name} {release.version}"


def offered_releases(
    *, chosen: str = "", search: str = "", visible: QuerySet[Release] | None = None
) -> QuerySet[Release]:
    """The releases the filter lists, of those `visible`: matching `search`, else the newest;
    and the chosen one."""
    releases = Release.objects.all() if visible is None else visible
    if search:
        releases = releases.filter(
            Q(application__name__icontains=search)
            | Q(version__icontains=search)
            | Q(name__icontains=search)
        )
    # Newest by id: read from the primary key's index (created_at has none), and the ids
    # looked up apart from the chosen one's, which an OR would turn into a scan of the table.
    ids = list(releases.order_by("-id").values_list("pk", flat=True)[:RELEASES_OFFERED])
    if chosen.isdigit() and len(chosen) < 19:  # a bigint, or not a release at all
        ids.append(int(chosen))
    return (
        (Release.objects.all() if visible is None else visible)
        .select_related("application")
        .filter(pk__in=ids)
        .order_by("application__name", "-created_at")
    )


class ReleaseChoiceField(forms.ModelChoiceField):
    """Lists the releases offered but accepts any release the person may see."""

    visible: QuerySet[Release] | None = None

    def label_from_instance(self, obj: Any) -> str:
        return release_label(obj)

    def to_python(self, value: Any) -> Release | None:
        if value in self.empty_values:
            return None
        try:
            releases = Release.objects.all() if self.visible is None else self.visible
            return releases.select_related("application").get(pk=value)
        except (ValueError, TypeError, Release.DoesNotExist):
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from None


class AuditFilterForm(forms.Form):
    release = ReleaseChoiceField(
        queryset=Release.objects.none(),
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

    # Keyset pages: events older than `before`, or newer than `after` (event ids).
    before = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    after = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, visible: QuerySet[Release] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        release = cast(ReleaseChoiceField, self.fields["release"])
        release.visible = visible
        release.queryset = offered_releases(chosen=self.data.get("release", ""), visible=visible)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
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
        return any(data.get(name) for name in self.fields if name not in CURSORS)
