from django import forms

from apps.core.forms import ServiceErrorsForm


class TokenForm(ServiceErrorsForm):
    name = forms.CharField(
        max_length=100,
        help_text="What uses it, so you know which one to revoke: “CI pipeline”, “chat bot”.",
    )
    read_only = forms.BooleanField(
        required=False,
        label="Read-only",
        help_text="It may read everything you can, and change nothing.",
    )
