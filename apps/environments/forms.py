"""Forms for the environments page. They check the shape of input; the services decide."""

from typing import Any, cast

from django import forms

from apps.accounts.models import validate_time_zone
from apps.core.forms import LocalDateTimeField, ServiceErrorsForm

from .models import FreezeScope, Tier
from .validators import (
    SECRET_MAX,
    SECRET_MIN,
    validate_deploy_secret,
    validate_environment_name,
    validate_http_url,
    validate_moment,
)

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class ActionForm(ServiceErrorsForm):
    """A button with nothing to type: only the service's answer can be an error."""


class EnvironmentForm(ServiceErrorsForm):
    name = forms.CharField(
        max_length=64,
        validators=[validate_environment_name],
        help_text="Letters, digits, hyphens: prod-eu.",
    )
    tier = forms.ChoiceField(choices=Tier.choices)
    region = forms.CharField(max_length=64, required=False)
    time_zone = forms.CharField(
        max_length=64,
        validators=[validate_time_zone],
        label="Time zone",
        help_text="IANA name, e.g. Europe/Berlin.",
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off"}),
    )
    health_url = forms.CharField(
        max_length=200,
        required=False,
        validators=[validate_http_url],
        label="Health URL",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    deploy_url = forms.CharField(
        max_length=200,
        required=False,
        validators=[validate_http_url],
        label="Deploy URL",
        help_text="Where the webhook deployer sends signed deploy requests.",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    # Write-only: the page never renders a stored secret back, only whether one is set.
    deploy_secret = forms.CharField(
        max_length=SECRET_MAX,
        required=False,
        strip=False,
        validators=[validate_deploy_secret],
        label="Deploy secret",
        help_text=f"{SECRET_MIN} to {SECRET_MAX} characters; signs every deploy request.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class EnvironmentEditForm(EnvironmentForm):
    remove_deploy_secret = forms.BooleanField(required=False, label="Remove the deploy secret")

    def __init__(self, *args: Any, secret_set: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secret_set = secret_set
        self.fields["deploy_secret"].help_text = (
            "Set: leave empty to keep it, or type a new one."
            if secret_set
            else f"Not set. {SECRET_MIN} to {SECRET_MAX} characters; signs every deploy request."
        )

    def changes(self) -> dict[str, Any]:
        """The service's changes: an empty secret box keeps the stored secret."""
        data = dict(self.cleaned_data)
        remove = data.pop("remove_deploy_secret", False)
        if remove:
            data["deploy_secret"] = ""
        elif not data.get("deploy_secret"):
            data.pop("deploy_secret", None)
        return data


class DeploymentWindowForm(ServiceErrorsForm):
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple, label="Days"
    )
    start_time = forms.TimeField(
        label="From", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    end_time = forms.TimeField(
        label="To", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )


class FreezeForm(ServiceErrorsForm):
    scope = forms.ChoiceField(
        choices=FreezeScope.choices, widget=forms.RadioSelect, initial=FreezeScope.ENVIRONMENT
    )
    environment = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    region = forms.CharField(
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "regions", "autocomplete": "off"}),
    )
    start = LocalDateTimeField(label="Starts", validators=[validate_moment])
    end = LocalDateTimeField(label="Ends", validators=[validate_moment])
    reason = forms.CharField(max_length=300)

    def __init__(self, *args: Any, environments: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        environment = cast(forms.ChoiceField, self.fields["environment"])
        environment.choices = [("", "Choose…")] + [(env.pk, env.name) for env in environments]


class FreezeEditForm(ServiceErrorsForm):
    start = LocalDateTimeField(label="Starts", validators=[validate_moment])
    end = LocalDateTimeField(label="Ends", validators=[validate_moment])
    reason = forms.CharField(max_length=300)
    change_reason = forms.CharField(
        max_length=2000,
        required=False,
        label="Why the change",
        help_text="Needed to shorten a freeze that is in force.",
    )


class ReasonForm(ServiceErrorsForm):
    reason = forms.CharField(max_length=2000, required=False)


class StopTheLineForm(forms.Form):
    """The dashboard's switch: pull it (with a reason) or lift it."""

    CHOOSE = "Choose whether to stop the line or lift it."

    active = forms.ChoiceField(
        choices=[("on", "Stop the line"), ("off", "Lift it")],
        error_messages={"required": CHOOSE, "invalid_choice": CHOOSE},
    )
    reason = forms.CharField(max_length=300, required=False)

    def first_error(self) -> str:
        return next((str(errors[0]) for errors in self.errors.values()), "")
