from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What uses it, so you know which one to revoke: “CI pipeline”, “chat bot”.",
    )
    read_only = forms.BooleanField(
        required=False,
        label="Read-only",
        help_text="It may read everything you can, and change nothing.",
    )

    def add_service_error(self, field: str | None, message: str) -> None:
        self.add_error(field if field in self.fields else None, message)
