from django import forms

SECRET_HELP = (
    "Signs every request (HMAC-SHA256). Leave it empty and ReleaseDeck makes one up and shows "
    "it to you once; it is never shown again."
)


class _ServiceErrors:
    def add_service_error(self, field: str | None, message: str) -> None:
        self.add_error(field if field in self.fields else None, message)  # type: ignore[attr-defined]


class WebhookForm(_ServiceErrors, forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Who receives it: “Release chat”, “CAB board”."
    )
    url = forms.CharField(
        label="URL",
        max_length=200,
        help_text="Where release events are POSTed as signed JSON.",
        widget=forms.URLInput(attrs={"placeholder": "https://", "inputmode": "url"}),
    )
    secret = forms.CharField(
        required=False,
        max_length=128,
        strip=False,
        help_text=SECRET_HELP,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class SecretForm(_ServiceErrors, forms.Form):
    secret = forms.CharField(
        label="New secret",
        required=False,
        max_length=128,
        strip=False,
        help_text="Empty: a new one is made up and shown once.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
