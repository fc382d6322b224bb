"""The forms of the people and team pages; apps.accounts.people decides, these only shape."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from apps.accounts.roles import ORG_ONLY, TIERED, Role
from apps.accounts.sso_config import password_login
from apps.core.forms import ServiceErrorsForm
from apps.environments.models import Tier
from apps.releases.models import Application


class PersonForm(ServiceErrorsForm):
    username = forms.CharField(
        max_length=150, help_text="What they sign in with: letters, digits and @ . + - _ only."
    )
    email = forms.EmailField(label="E-mail", max_length=254)
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    send_link = forms.BooleanField(
        label="Mail them a link to choose their password",
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not password_login():  # people sign in through single sign-on: no password to choose
            del self.fields["send_link"]


class TeamForm(ServiceErrorsForm):
    name = forms.CharField(max_length=100, help_text="As people say it: “CRM team”.")
    slug = forms.SlugField(
        label="Short name",
        max_length=64,
        help_text="Lowercase, for the API and single sign-on group mappings: “crm”.",
    )


class GrantForm(ServiceErrorsForm):
    user = forms.ModelChoiceField(
        label="Person", queryset=get_user_model().objects.none(), empty_label="Choose a person"
    )
    role = forms.ChoiceField()
    tiers = forms.MultipleChoiceField(
        label="Limited to tiers",
        choices=Tier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            f"{', '.join(Role(r).label for r in sorted(TIERED))} only; none means every tier."
        ),
    )

    def __init__(self, *args: Any, in_team: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["user"].queryset = people  # type: ignore[attr-defined]
        self.fields["user"].label_from_instance = _person_label  # type: ignore[attr-defined]
        roles = [(v, label) for v, label in Role.choices if not (in_team and v in ORG_ONLY)]
        self.fields["role"].choices = roles  # type: ignore[attr-defined]


def _person_label(user: Any) -> str:
    name = user.get_full_name()
    return f"{name} ({user.username})" if name else user.username


class AssignForm(ServiceErrorsForm):
    application = forms.ModelChoiceField(
        queryset=Application.objects.none(), empty_label="Choose an application"
    )

    def __init__(self, *args: Any, team_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        others = Application.objects.exclude(team_id=team_id).select_related("team")
        self.fields["application"].queryset = others.order_by("name")  # type: ignore[attr-defined]
        self.fields["application"].label_from_instance = _application_label  # type: ignore[attr-defined]


def _application_label(app: Application) -> str:
    return f"{app.name} (now {app.team.name})" if app.team else app.name
