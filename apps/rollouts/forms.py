"""The scheduler's and the console's forms: what people type, shaped here, before a service
decides. Their messages name the field as the scheduler shows it beside its input."""

from datetime import datetime
from typing import Any

from django import forms
from django.db.models import TextChoices

from apps.core.api import ID_MAX

from .models import CheckKind, Deployer, FailurePolicy, Strategy

LOCAL_EXAMPLE = "2026-12-01T09:00"
MAX_BAKE_MINUTES = 60 * 24 * 14


class LocalTimeError(ValueError):
    """Why a typed local time was refused: `format`, `offset` or `range`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def parse_local(text: str) -> datetime:
    """A wall-clock time typed without an offset ('2026-12-01T09:00'), as a naive datetime; the
    wave's environment gives it its zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LocalTimeError("format") from None
    if value.tzinfo is not None:
        raise LocalTimeError("offset")
    if not 1970 <= value.year <= 9998:
        raise LocalTimeError("range")
    return value


LOCAL_TIME_MESSAGES = {
    "format": "{field} must be a local date and time like " + LOCAL_EXAMPLE + ".",
    "offset": "{field} is local time in the environment's zone; give it without an offset.",
    "range": "{field} is out of range.",
}


def _text(name: str, max_length: int, **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        max_length=max_length,
        error_messages={
            "required": f"{name} is required.",
            "max_length": f"{name} must be at most {max_length} characters.",
            "null_characters_not_allowed": f"{name} must not contain NUL characters.",
        },
        **kwargs,
    )


def _whole(name: str, low: int, high: int, **kwargs: Any) -> forms.IntegerField:
    whole = f"{name} must be a whole number."
    between = f"{name} must be between {low} and {high}."
    return forms.IntegerField(
        min_value=low,
        max_value=high,
        error_messages={
            "required": whole,
            "invalid": whole,
            "min_value": between,
            "max_value": between,
        },
        **kwargs,
    )


def _choice(name: str, choices: type[TextChoices]) -> forms.ChoiceField:
    message = f"{name} must be one of: {', '.join(choices.values)}."
    return forms.ChoiceField(
        choices=choices.choices, error_messages={"required": message, "invalid_choice": message}
    )


class LocalTimeField(forms.CharField):
    """A `datetime-local` input read as a naive wall-clock time; blank is no time."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        self.name = name
        super().__init__(
            required=False,
            max_length=40,
            error_messages={"max_length": f"{name} must be at most 40 characters."},
            **kwargs,
        )

    def clean(self, value: Any) -> datetime | None:
        text = super().clean(value)
        if not text:
            return None
        try:
            return parse_local(text)
        except LocalTimeError as exc:
            raise forms.ValidationError(
                LOCAL_TIME_MESSAGES[exc.code].format(field=self.name), code=exc.code
            ) from None


class WavePreviewForm(forms.Form):
    """What the dry run of a scheduler row reads; its inputs are named `w<id>-<field>` (the
    wave's prefix)."""

    planned_start_local = LocalTimeField("planned_start_local")
    bake_minutes = _whole("bake_minutes", 0, MAX_BAKE_MINUTES)


class WaveRowForm(WavePreviewForm):
    """One wave's row of the scheduler, as it is saved."""

    percentage = _whole("percentage", 0, 100)
    failure_policy = _choice("failure_policy", FailurePolicy)
    deployer = _choice("deployer", Deployer)

    field_order = ["planned_start_local", "percentage", "bake_minutes"]


class IdListField(forms.Field):
    """Ids posted under one name (checkboxes), in the order posted."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Name the environments, in rollout order.",
        "invalid": "environments must be ids: whole numbers from 1.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        ids = []
        for item in value:
            text = item.strip() if isinstance(item, str) else ""
            if not (text.isascii() and text.isdigit() and 1 <= int(text) <= ID_MAX):
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            ids.append(int(text))
        return ids


class StrategyForm(forms.Form):
    """The strategy whose default waves replace the plan's, for the environments ticked."""

    strategy = _choice("strategy", Strategy)
    environments = IdListField()


class WaveRequirementForm(forms.Form):
    role = _text("role", 32)
    count = _whole("count", 0, 50)


class CheckForm(forms.Form):
    """A verification check's name, kind and schedule (its settings are read by kind)."""

    name = _text("name", 100)
    kind = _choice("kind", CheckKind)
    interval_seconds = _whole("interval_seconds", 1, 86400, required=False)
    failures_to_fail = _whole("failures_to_fail", 1, 100, required=False)

    def clean_interval_seconds(self) -> int:
        value = self.cleaned_data["interval_seconds"]
        return 60 if value is None else value

    def clean_failures_to_fail(self) -> int:
        value = self.cleaned_data["failures_to_fail"]
        return 3 if value is None else value


class OperateForm(forms.Form):
    """An operator's reason for a button on the console (some actions need one)."""

    reason = _text("reason", 2000, required=False)


def first_error(form: forms.Form) -> tuple[str, str]:
    """The first (field, message) of an invalid form, in the form's field order."""
    for name in form.fields:
        if name in form.errors:
            return name, str(form.errors[name][0])
    name, messages = next(iter(form.errors.items()))
    return name, str(messages[0])
