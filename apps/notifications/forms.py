from datetime import datetime
from typing import TypedDict

from django import forms

from apps.core.errors import ServiceError
from apps.core.forms import LocalDateTimeField, ServiceErrorsForm

from . import validators

SECRET_HELP = (
    "Signs every request (HMAC-SHA256). Leave it empty and ReleaseDeck makes one up and shows "
    "it to you once; it is never shown again."
)


class NewAnnouncement(TypedDict):
    title: str
    body: str
    publish_at: datetime | None
    training_url: str


class AnnouncementForm(forms.Form):
    """An announcement written on the release page; the messages name the fields as the API
    does."""

    title = forms.CharField(
        max_length=200,
        error_messages={
            "required": "title is required.",
            "max_length": "title must be at most 200 characters.",
        },
    )
    body = forms.CharField(
        max_length=20000,
        error_messages={
            "required": "body is required.",
            "max_length": "body must be at most 20000 characters.",
        },
    )
    publish_at = LocalDateTimeField(
        required=False,
        validators=[validators.publish_time],
        error_messages={"invalid": "Publish time must be a date and time."},
    )
    training_url = forms.CharField(
        required=False,
        max_length=200,
        validators=[validators.training_url],
        error_messages={"max_length": "training_url must be at most 200 characters."},
    )

    def announcement(self) -> NewAnnouncement:
        """The announcement to write. The release page answers a refusal in the part that was
        posted, so an invalid form is refused as a ServiceError naming its first field."""
        if not self.is_valid():
            field, errors = next(iter(self.errors.items()))
            raise ServiceError(str(errors[0]), field=field)
        return NewAnnouncement(
            title=self.cleaned_data["title"],
            body=self.cleaned_data["body"],
            publish_at=self.cleaned_data["publish_at"],
            training_url=self.cleaned_data["training_url"],
        )


class WebhookForm(ServiceErrorsForm):
    name = forms.CharField(
        max_length=100, help_text="Who receives it: “Release chat”, “CAB board”."
    )
    url = forms.CharField(
        label="URL",
        max_length=200,
        validators=[validators.receiver_url],
        help_text="Where release events are POSTed as signed JSON.",
        widget=forms.URLInput(attrs={"placeholder": "https://", "inputmode": "url"}),
    )
    secret = forms.CharField(
        required=False,
        max_length=validators.SECRET_MAX_LENGTH,
        strip=False,
        validators=[validators.secret],
        help_text=SECRET_HELP,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class SecretForm(ServiceErrorsForm):
    secret = forms.CharField(
        label="New secret",
        required=False,
        max_length=validators.SECRET_MAX_LENGTH,
        strip=False,
        validators=[validators.secret],
        help_text="Empty: a new one is made up and shown once.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
