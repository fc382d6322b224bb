"""Form fields every page's forms share."""

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
