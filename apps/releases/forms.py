"""Forms for the release pages and the release page's buttons. They check the shape of what
people type; the services decide."""

from datetime import datetime, time, timedelta
from typing import Any, TypedDict, cast

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet, TextChoices
from django.utils import timezone

from apps.accounts.permissions import teams_holding, visible_q
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.core.forms import LocalDateTimeField, ServiceErrorsForm

from . import validators
from .models import Application, ItemStatus, Phase, Release, Severity, TestStatus
from .services.lifecycle import ReleaseChanges


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

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:  # offer only the applications this person may see
            application = cast(forms.ModelChoiceField, self.fields["application"])
            application.queryset = Application.objects.filter(visible_q(user, "team")).order_by(
                "name"
            )
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


class NewRelease(TypedDict):
    """A release to create, as release_create takes it."""

    application_id: int
    name: str
    version: str
    build_ref: str
    scope: str
    owner_id: int
    planned_start: datetime | None
    planned_end: datetime | None
    signoff_expiry_days: int | None
    hypercare_days: int


class ReleaseForm(ServiceErrorsForm):
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
    planned_start = LocalDateTimeField(
        required=False, label="Planned start", validators=[validators.planned_start]
    )
    planned_end = LocalDateTimeField(
        required=False, label="Planned end", validators=[validators.planned_end]
    )
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
        self, *args: Any, release: Release | None = None, actor: User | None = None, **kwargs: Any
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
                Q(role_grants__role=Role.RELEASE_MANAGER) | Q(is_superuser=True) | Q(pk=current),
                is_active=True,
            )
            .distinct()
            .order_by("username")
        )
        if release is not None:
            del self.fields["application"]
        elif actor is not None:
            # Only applications whose team the person manages releases of (all of them for an
            # organisation-wide release manager).
            teams = teams_holding(actor, {Role.RELEASE_MANAGER})
            if teams is not None:
                application = cast(forms.ModelChoiceField, self.fields["application"])
                application.queryset = Application.objects.filter(team__in=teams).order_by("name")

    def lock_content(self) -> None:
        """Version, build and scope are frozen once a release is rolling out."""
        for name in ("version", "build_ref", "scope"):
            self.fields[name].disabled = True

    def new_release(self) -> NewRelease:
        """The release to create, named after its application and version unless named."""
        data = self.cleaned_data
        app: Application = data["application"]
        return NewRelease(
            application_id=app.pk,
            name=data["name"] or f"{app.name} {data['version']}",
            version=data["version"],
            build_ref=data["build_ref"],
            scope=data["scope"],
            owner_id=data["owner"].pk,
            planned_start=data["planned_start"],
            planned_end=data["planned_end"],
            signoff_expiry_days=data["signoff_expiry_days"],
            hypercare_days=data["hypercare_days"],
        )

    def changes(self) -> ReleaseChanges:
        """What an edit changes: only the fields that differ from the release's."""
        assert self.release is not None, "an edit form"
        data, changed = self.cleaned_data, set(self.changed_data)
        out = ReleaseChanges()
        if "version" in changed:
            out["version"] = data["version"]
        if "build_ref" in changed:
            out["build_ref"] = data["build_ref"]
        if "scope" in changed:
            out["scope"] = data["scope"]
        if "owner" in changed:
            out["owner_id"] = data["owner"].pk
        if "planned_start" in changed:
            out["planned_start"] = data["planned_start"]
        if "planned_end" in changed:
            out["planned_end"] = data["planned_end"]
        if "signoff_expiry_days" in changed:
            out["signoff_expiry_days"] = data["signoff_expiry_days"]
        if "hypercare_days" in changed and data["hypercare_days"] is not None:
            out["hypercare_days"] = data["hypercare_days"]
        app = self.release.application
        if "name" in changed:
            out["name"] = data["name"] or f"{app.name} {data['version']}"
        elif "version" in out and self.release.name == f"{app.name} {self.release.version}":
            out["name"] = f"{app.name} {out['version']}"  # a default name follows the version
        return out

    def add_service_error(self, field: str | None, message: str) -> None:
        """Show a service's refusal on the field it names (services say `owner`, not
        `owner_id`), or above the form when it names none of ours."""
        if field and field.endswith("_id"):
            field = field[:-3]
        super().add_service_error(field, message)


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


# The buttons of the release page. Each message names the field it is about.


class ActionForm(forms.Form):
    """A button's form on the release page. The page answers a refusal in the part that was
    posted, so an invalid form is refused as a ServiceError naming its first field."""

    def checked_data(self) -> dict[str, Any]:
        if not self.is_valid():
            field, errors = next(iter(self.errors.items()))
            raise ServiceError(str(errors[0]), field=field)
        return self.cleaned_data


def text_field(name: str, max_length: int, *, required: bool = True) -> forms.CharField:
    """Text, trimmed, at most `max_length` characters once trimmed."""
    return forms.CharField(
        required=required,
        max_length=max_length,
        error_messages={
            "required": f"{name} is required.",
            "max_length": f"{name} must be at most {max_length} characters.",
            "null_characters_not_allowed": f"{name} must not contain NUL characters.",
        },
    )


def choice_field(name: str, choices: type[TextChoices]) -> forms.ChoiceField:
    """One of `choices`, by its value."""
    message = f"{name} must be one of: {', '.join(choices.values)}."
    return forms.ChoiceField(
        choices=choices.choices,
        error_messages={"required": message, "invalid_choice": message},
    )


class Move(TypedDict):
    to: str
    reason: str


class MoveForm(ActionForm):
    to = choice_field("to", Phase)
    reason = text_field("reason", 2000, required=False)

    def move(self) -> Move:
        data = self.checked_data()
        return Move(to=data["to"], reason=data["reason"])


class ChecklistSet(TypedDict):
    status: str
    reason: str


class ChecklistSetForm(ActionForm):
    status = choice_field("status", ItemStatus)
    reason = text_field("reason", 2000, required=False)

    def checklist_set(self) -> ChecklistSet:
        data = self.checked_data()
        return ChecklistSet(status=data["status"], reason=data["reason"])


class NewTestCase(TypedDict):
    title: str
    steps: str


class TestCaseAddForm(ActionForm):
    __test__ = False  # not a pytest class

    title = text_field("title", 300)
    steps = text_field("steps", 20000, required=False)

    def test_case(self) -> NewTestCase:
        data = self.checked_data()
        return NewTestCase(title=data["title"], steps=data["steps"])


class TestResult(TypedDict):
    status: str
    note: str


class TestCaseRecordForm(ActionForm):
    __test__ = False  # not a pytest class

    status = choice_field("status", TestStatus)
    note = text_field("note", 5000, required=False)

    def result(self) -> TestResult:
        data = self.checked_data()
        return TestResult(status=data["status"], note=data["note"])


class NewDefect(TypedDict):
    title: str
    severity: str


class DefectOpenForm(ActionForm):
    title = text_field("title", 300)
    severity = choice_field("severity", Severity)

    def defect(self) -> NewDefect:
        data = self.checked_data()
        return NewDefect(title=data["title"], severity=data["severity"])


class DefectCloseForm(ActionForm):
    resolution = text_field("resolution", 5000, required=False)

    def resolution_note(self) -> str:
        return str(self.checked_data()["resolution"])


class Review(TypedDict):
    went_well: str
    went_badly: str
    actions: str


class ReviewForm(ActionForm):
    went_well = text_field("went_well", 20000)
    went_badly = text_field("went_badly", 20000)
    actions = text_field("actions", 20000)

    def review(self) -> Review:
        data = self.checked_data()
        return Review(
            went_well=data["went_well"], went_badly=data["went_badly"], actions=data["actions"]
        )
