"""Forms for the release pages. They check the shape of what people type; the services decide."""

from datetime import datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.forms import LocalDateTimeField

from .models import Application, Phase, Release


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.get_username()})" if full else obj.get_username()


class ReleaseFilterForm(forms.Form):
    """The releases list's filters, read from the query string."""

    phase = forms.ChoiceField(choices=[("", "Any phase"), *Phase.choices], required=False)
    application = forms.ModelChoiceField(
        queryset=Application.objects.order_by("name"),
        required=False,
        empty_label="Any application",
    )
    owner = PersonChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Anyone"
    )
    planned_from = forms.DateField(
        required=False, label="Planned from", widget=forms.DateInput(attrs={"type": "date"})
    )
    planned_to = forms.DateField(
        required=False, label="Planned to", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only people who own a release are worth offering.
        # A semi-join per person, not DISTINCT over every release ever made.
        owner = cast(forms.ModelChoiceField, self.fields["owner"])
        owner.queryset = (
            get_user_model()
            .objects.filter(Exists(Release.objects.filter(owner=OuterRef("pk"))))
            .order_by("username")
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("planned_from"), data.get("planned_to")
        if start and end and end < start:
            self.add_error("planned_to", "The end of the range is before its start.")
        return data

    def filter(self, releases: QuerySet[Release], *, phase: bool = True) -> QuerySet[Release]:
        """Apply every filter that is valid; the invalid ones are shown as errors instead."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        if phase and data.get("phase"):
            releases = releases.filter(phase=data["phase"])
        if data.get("application"):
            releases = releases.filter(application=data["application"])
        if data.get("owner"):
            releases = releases.filter(owner=data["owner"])
        # A release is in the range when its planned window overlaps the days chosen, read as
        # whole days of the viewer's time zone.
        if data.get("planned_from"):
            start = timezone.make_aware(datetime.combine(data["planned_from"], time.min))
            releases = releases.filter(
                Q(planned_end__gte=start) | Q(planned_end__isnull=True, planned_start__gte=start)
            )
        if data.get("planned_to"):
            end = timezone.make_aware(
                datetime.combine(data["planned_to"] + timedelta(days=1), time.min)
            )
            releases = releases.filter(planned_start__lt=end)
        return releases

    @property
    def active(self) -> bool:
        return any(self.data.get(name) for name in self.fields)


class ReleaseForm(forms.Form):
    """Create or edit a release. Edits leave out the application, which never changes."""

    application = forms.ModelChoiceField(
        queryset=Application.objects.order_by("name"), empty_label="Choose an application"
    )
    version = forms.CharField(max_length=64)
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Leave empty to call it by its application and version.",
    )
    build_ref = forms.CharField(
        max_length=200,
        required=False,
        label="Build reference",
        help_text="A commit, tag or artifact id.",
    )
    scope = forms.CharField(
        max_length=20000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What changes for users. Approvers sign off exactly this.",
    )
    owner = PersonChoiceField(queryset=get_user_model().objects.none())
    planned_start = LocalDateTimeField(required=False, label="Planned start")
    planned_end = LocalDateTimeField(required=False, label="Planned end")
    signoff_expiry_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Sign-offs expire after (days)",
        help_text="Empty: they never expire.",
    )
    hypercare_days = forms.IntegerField(
        min_value=0, max_value=365, initial=7, label="Hypercare (days)"
    )

    def __init__(
        self, *args: Any, release: Release | None = None, actor: Any = None, **kwargs: Any
    ) -> None:
        self.release = release
        if release is not None:
            kwargs.setdefault("initial", _initial(release))
        elif actor is not None:
            kwargs.setdefault("initial", {"owner": actor.pk, "hypercare_days": 7})
        super().__init__(*args, **kwargs)
        current = release.owner_id if release else None
        # Release managers own releases; the current owner stays choosable whatever their role.
        owner = cast(forms.ModelChoiceField, self.fields["owner"])
        owner.queryset = (
            get_user_model()
            .objects.filter(
                Q(groups__name=Role.RELEASE_MANAGER) | Q(is_superuser=True) | Q(pk=current),
                is_active=True,
            )
            .distinct()
            .order_by("username")
        )
        if release is not None:
            del self.fields["application"]

    def lock_content(self) -> None:
        """Version, build and scope are frozen once a release is rolling out."""
        for name in ("version", "build_ref", "scope"):
            self.fields[name].disabled = True

    def service_arguments(self) -> dict[str, Any]:
        """What to hand the service: everything for a new release, only the changes for an edit."""
        data = self.cleaned_data
        names = self.changed_data if self.release is not None else list(self.fields)
        out: dict[str, Any] = {}
        for name in names:
            value = data[name]
            if name == "application":
                out["application_id"] = value.pk
            elif name == "owner":
                out["owner_id"] = value.pk
            elif name == "name":
                if not value:
                    app = self.release.application if self.release else data["application"]
                    value = f"{app.name} {data['version']}"
                out["name"] = value
            elif name == "hypercare_days" and value is None:
                continue
            else:
                out[name] = value
        if self.release is not None and "version" in out and "name" not in out:
            old = f"{self.release.application.name} {self.release.version}"
            if self.release.name == old:  # a default name follows the version
                out["name"] = f"{self.release.application.name} {out['version']}"
        return out

    def add_service_error(self, field: str | None, message: str) -> None:
        """Show a service's refusal on the field it names (services say `owner`, not
        `owner_id`), or above the form when it names none of ours."""
        if field and field.endswith("_id"):
            field = field[:-3]
        self.add_error(field if field in self.fields else None, message)


def _initial(release: Release) -> dict[str, Any]:
    def minute(value: datetime | None) -> datetime | None:
        # The input holds minutes; seconds would count as a change nobody made.
        return value.replace(second=0, microsecond=0) if value else None

    default_name = release.name == f"{release.application.name} {release.version}"
    return {
        "version": release.version,
        "name": "" if default_name else release.name,
        "build_ref": release.build_ref,
        "scope": release.scope,
        "owner": release.owner_id,
        "planned_start": minute(release.planned_start),
        "planned_end": minute(release.planned_end),
        "signoff_expiry_days": release.signoff_expiry_days,
        "hypercare_days": release.hypercare_days,
    }
