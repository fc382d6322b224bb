"""Form fields and the base form every page's forms share."""

from typing import Any

from django import forms

LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class LocalDateTimeField(forms.DateTimeField):
    """A `datetime-local` input: a wall-clock time in the viewer's time zone, read back as an
    aware datetime (the time zone middleware activates the viewer's zone)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", [LOCAL_INPUT, "%Y-%m-%dT%H:%M:%S"])
        super().__init__(**kwargs)


class ServiceErrorsForm(forms.Form):
    """A form a service's refusal can be shown on: at the field it names, else the form's."""

    def add_service_error(self, field: str | None, message: str) -> None:
        self.add_error(field if field in self.fields else None, message)
