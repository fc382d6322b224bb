from typing import Any, TypedDict, cast

from django import forms

from apps.core.forms import ServiceErrorsForm
from apps.releases.forms import ActionForm, choice_field, text_field

from .models import Decision


class Verdict(TypedDict):
    decision: str
    comment: str
    role: str | None


class VerdictForm(ActionForm):
    """A verdict given from the release page's sign-off panel, each message naming its field.
    apps.signoffs.services decides who may give it."""

    decision = choice_field("decision", Decision)
    comment = text_field("comment", 5000, required=False)
    role = forms.SlugField(
        required=False,
        max_length=32,
        error_messages={
            "invalid": "role may hold only letters, digits, hyphens and underscores.",
            "max_length": "role must be at most 32 characters.",
        },
    )

    def verdict(self) -> Verdict:
        data = self.checked_data()
        return Verdict(
            decision=data["decision"], comment=data["comment"], role=data["role"] or None
        )


class SignoffForm(ServiceErrorsForm):
    """An approver's verdict. The shape is checked here; apps.signoffs.services decides."""

    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    role = forms.ChoiceField(required=False)
    # The content the approver was looking at; a verdict on other content is refused.
    fingerprint = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = cast(forms.ChoiceField, self.fields["role"])
        role.choices = roles
        role.required = len(roles) > 1


class WaveSignoffForm(forms.Form):
    """A verdict on one wave's own sign-off; apps.signoffs.services decides who may give it."""

    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(required=False, max_length=5000)
    role = forms.SlugField(required=False, max_length=32)
    fingerprint = forms.CharField(max_length=64)


class LinkVerdictForm(ServiceErrorsForm):
    """The verdict posted from a mailed link's confirmation page; the link fixes who signs, as
    what role, and for which content, and apps.signoffs.links decides."""

    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(required=False, max_length=5000)
