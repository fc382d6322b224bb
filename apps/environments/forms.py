"""Forms for the environments page. They check the shape of input; the services decide."""

from typing import Any

from django import forms

from apps.releases.forms import LocalDateTimeField

from .models import FreezeScope, Tier

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class ServiceErrorsMixin:
    def add_service_error(self, field: str | None, message: str) -> None:
        self.add_error(field if field in self.fields else None, message)  # type: ignore[attr-defined]


class ActionForm(ServiceErrorsMixin, forms.Form):
    """A button with nothing to type: only the service's answer can be an error."""


class EnvironmentForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=64, help_text="Letters, digits, hyphens: prod-eu.")
    tier = forms.ChoiceField(choices=Tier.choices)
    region = forms.CharField(max_length=64, required=False)
    time_zone = forms.CharField(
        max_length=64,
        label="Time zone",
        help_text="IANA name, e.g. Europe/Berlin.",
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off"}),
    )
    health_url = forms.CharField(
        max_length=200,
        required=False,
        label="Health URL",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )


class DeploymentWindowForm(ServiceErrorsMixin, forms.Form):
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple, label="Days"
    )
    start_time = forms.TimeField(
        label="From", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    end_time = forms.TimeField(
        label="To", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )


class FreezeForm(ServiceErrorsMixin, forms.Form):
    scope = forms.ChoiceField(
        choices=FreezeScope.choices, widget=forms.RadioSelect, initial=FreezeScope.ENVIRONMENT
    )
    environment = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    region = forms.CharField(
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "regions", "autocomplete": "off"}),
    )
    start = LocalDateTimeField(label="Starts")
    end = LocalDateTimeField(label="Ends")
    reason = forms.CharField(max_length=300)

    def __init__(self, *args: Any, environments: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [("", "Choose…")] + [
            (env.pk, env.name) for env in environments
        ]


class FreezeEditForm(ServiceErrorsMixin, forms.Form):
    start = LocalDateTimeField(label="Starts")
    end = LocalDateTimeField(label="Ends")
    reason = forms.CharField(max_length=300)


class ReasonForm(ServiceErrorsMixin, forms.Form):
    reason = forms.CharField(max_length=2000, required=False)
