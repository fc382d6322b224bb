"""The administrators' pages for people, teams and roles. Every view asks for the
administrator role; every change goes through apps.accounts.people (and, to give a team an
application, apps.releases.services), so a refusal reads as it does in the API."""

from collections.abc import Callable
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts import people
from apps.accounts.models import RoleGrant, Team
from apps.accounts.permissions import Action, page_require
from apps.accounts.sso_config import password_login
from apps.audit.selectors import latest_event_id
from apps.core.errors import ServiceError
from apps.core.forms import ServiceErrorsForm
from apps.core.htmx import is_htmx, login_required
from apps.core.live import LivePass, live_poll, seen_number
from apps.releases.models import Application
from apps.releases.services import application_assign_team

from .people_forms import AssignForm, GrantForm, PersonForm, TeamForm

PEOPLE = "people/people.html"
TEAMS = "people/teams.html"
TEAM = "people/team.html"


# Every change to people, teams and grants is an audit event, so the latest event's id is the
# pages' one change counter: an open page's poll costs one query while nothing changes.
people_live = LivePass("people.live")
team_live = LivePass("people.team.live")


def _unchanged(request: HttpRequest, *args: Any, **kwargs: Any) -> bool:
    seen = seen_number(request, "since")
    return seen is not None and latest_event_id() == seen


def _actor(request: HttpRequest) -> User:
    page_require(request.user, Action.MANAGE_PEOPLE)
    return cast(User, request.user)


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    name = f"{template}#board" if is_htmx(request) else template
    return render(request, name, _live(request, template, context), status=status)


def _live(request: HttpRequest, template: str, context: dict[str, Any]) -> dict[str, Any]:
    """The open page's pass for its poll; `since` was read before the page's rows, so a change
    made in between shows at the next poll."""
    if template == PEOPLE:
        return {**context, "live_pass": people_live.issue(request.user)}
    if template == TEAM:
        return {**context, "live_pass": team_live.issue(request.user, context["team"].pk)}
    return context


# People


def _people_context(
    *,
    person_form: PersonForm | None = None,
    grant_form: GrantForm | None = None,
    flash: str = "",
    error: str = "",
) -> dict[str, Any]:
    since = latest_event_id()
    grants = RoleGrant.objects.select_related("team").order_by("team__name", "role")
    found = (
        get_user_model()
        .objects.prefetch_related(Prefetch("role_grants", queryset=grants))
        .order_by("-is_active", "username")
    )
    return {
        "since": since,
        "people": list(found),
        "person_form": person_form or PersonForm(),
        "grant_form": grant_form or GrantForm(in_team=False),
        "passwords": password_login(),
        "flash": flash,
        "error": error,
    }


@require_http_methods(["GET", "POST"])
@login_required
def people_page(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    if request.method == "GET":
        return render(request, PEOPLE, _live(request, PEOPLE, _people_context()))
    form = PersonForm(request.POST)
    if not form.is_valid():
        return _render(request, PEOPLE, _people_context(person_form=form), 400)
    data = dict(form.cleaned_data)
    send_link = data.pop("send_link", False)
    try:
        with transaction.atomic():  # the person and their link's audit event, or neither
            user = people.user_create(actor=actor, **data)
            if send_link:
                people.user_send_set_password_link(user_id=user.pk, actor=actor)
    except ServiceError as exc:
        form.add_service_error(exc.field, exc.message)
        return _render(request, PEOPLE, _people_context(person_form=form), exc.status)
    flash = f"{user.username} added."
    if send_link:
        flash += f" A link to choose a password is on its way to {user.email}."
    return _people_done(request, flash, 201)


def _people_done(request: HttpRequest, flash: str, status: int = 200) -> HttpResponse:
    if not is_htmx(request):
        return redirect("people:people")
    return _render(request, PEOPLE, _people_context(flash=flash), status)


def _people_act(request: HttpRequest, call: Callable[[User], str]) -> HttpResponse:
    actor = _actor(request)
    try:
        flash = call(actor)
    except ServiceError as exc:
        return _render(request, PEOPLE, _people_context(error=exc.message), exc.status)
    return _people_done(request, flash)


@require_POST
@login_required
def person_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    def call(actor: User) -> str:
        user = people.user_deactivate(user_id=user_id, actor=actor)
        return f"{user.username} is deactivated: signed out everywhere, tokens refused."

    return _people_act(request, call)


@require_POST
@login_required
def person_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    def call(actor: User) -> str:
        user = people.user_reactivate(user_id=user_id, actor=actor)
        return f"{user.username} may sign in again."

    return _people_act(request, call)


@require_POST
@login_required
def person_link(request: HttpRequest, user_id: int) -> HttpResponse:
    def call(actor: User) -> str:
        user = people.user_send_set_password_link(user_id=user_id, actor=actor)
        return f"A link to choose a password is on its way to {user.email}."

    return _people_act(request, call)


@require_POST
@login_required
def org_grant(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    form = GrantForm(request.POST, in_team=False)
    if form.is_valid():
        try:
            grant = people.grant_role(
                user_id=form.cleaned_data["user"].pk,
                role=form.cleaned_data["role"],
                tiers=form.cleaned_data["tiers"],
                actor=actor,
            )
        except ServiceError as exc:
            form.add_service_error(exc.field, exc.message)
            return _render(request, PEOPLE, _people_context(grant_form=form), exc.status)
        flash = f"{grant.user.username} is {grant.get_role_display().lower()} organisation-wide."
        return _people_done(request, flash)
    return _render(request, PEOPLE, _people_context(grant_form=form), 400)


@require_POST
@login_required
def grant_revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    def call(actor: User) -> str:
        people.revoke_role(grant_id=grant_id, actor=actor)
        return "Role revoked."

    return _people_act(request, call)


# Teams


def _teams_context(form: TeamForm | None = None) -> dict[str, Any]:
    teams = Team.objects.annotate(
        members=Count("grants__user", distinct=True), owned=Count("applications", distinct=True)
    ).order_by("name")
    return {"teams": list(teams), "form": form or TeamForm()}


@require_http_methods(["GET", "POST"])
@login_required
def teams_page(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    if request.method == "GET":
        return render(request, TEAMS, _teams_context())
    form = TeamForm(request.POST)
    if not form.is_valid():
        return _render(request, TEAMS, _teams_context(form), 400)
    try:
        team = people.team_create(actor=actor, **form.cleaned_data)
    except ServiceError as exc:
        form.add_service_error(exc.field, exc.message)
        return _render(request, TEAMS, _teams_context(form), exc.status)
    if not is_htmx(request):
        return redirect("people:team", team.pk)
    # A new team is set up on its own page: members, applications.
    return HttpResponseClientRedirect(reverse("people:team", args=[team.pk]))


def _team_context(
    team: Team,
    *,
    bound: dict[str, ServiceErrorsForm] | None = None,
    flash: str = "",
    error: str = "",
) -> dict[str, Any]:
    """The team page's board; `bound` holds a submitted form, by name, to show with its
    errors in place of an empty one."""
    since = latest_event_id()
    grants = list(
        RoleGrant.objects.filter(team=team)
        .select_related("user")
        .order_by("user__username", "role")
    )
    members: dict[int, dict[str, Any]] = {}
    for grant in grants:
        members.setdefault(grant.user_id, {"user": grant.user, "grants": []})["grants"].append(
            grant
        )
    return {
        "since": since,
        "team": team,
        "members": list(members.values()),
        "applications": list(Application.objects.filter(team=team).order_by("name")),
        "grant_form": GrantForm(in_team=True),
        "assign_form": AssignForm(team_id=team.pk),
        "rename_form": TeamForm(initial={"name": team.name, "slug": team.slug}),
        "flash": flash,
        "error": error,
        **(bound or {}),
    }


@require_http_methods(["GET"])
@login_required
def team_page(request: HttpRequest, team_id: int) -> HttpResponse:
    _actor(request)
    team = get_object_or_404(Team, pk=team_id)
    return render(request, TEAM, _live(request, TEAM, _team_context(team)))


def _team_answer(
    request: HttpRequest,
    team_id: int,
    form_key: str,
    form: ServiceErrorsForm,
    call: Callable[[], str],
) -> HttpResponse:
    """Validate `form`, make the change, and answer with the team's board (or a redirect); on a
    refusal the board again with the form showing it."""
    team = get_object_or_404(Team, pk=team_id)
    status = 400
    if form.is_valid():
        try:
            flash = call()
        except ServiceError as exc:
            form.add_service_error(exc.field, exc.message)
            status = exc.status
        else:
            if not is_htmx(request):
                return redirect("people:team", team_id)
            team.refresh_from_db()
            return _render(request, TEAM, _team_context(team, flash=flash))
    return _render(request, TEAM, _team_context(team, bound={form_key: form}), status)


@require_POST
@login_required
def team_grant(request: HttpRequest, team_id: int) -> HttpResponse:
    actor = _actor(request)
    form = GrantForm(request.POST, in_team=True)

    def call() -> str:
        grant = people.grant_role(
            user_id=form.cleaned_data["user"].pk,
            role=form.cleaned_data["role"],
            tiers=form.cleaned_data["tiers"],
            team_id=team_id,
            actor=actor,
        )
        return f"{grant.user.username} is {grant.get_role_display().lower()} in this team."

    return _team_answer(request, team_id, "grant_form", form, call)


@require_POST
@login_required
def team_assign(request: HttpRequest, team_id: int) -> HttpResponse:
    actor = _actor(request)
    form = AssignForm(request.POST, team_id=team_id)

    def call() -> str:
        app = application_assign_team(
            application_id=form.cleaned_data["application"].pk, team_id=team_id, actor=actor
        )
        return f"{app.name} now belongs to this team."

    return _team_answer(request, team_id, "assign_form", form, call)


@require_POST
@login_required
def team_rename(request: HttpRequest, team_id: int) -> HttpResponse:
    actor = _actor(request)
    form = TeamForm(request.POST)

    def call() -> str:
        team = people.team_update(team_id=team_id, actor=actor, **form.cleaned_data)
        return f"The team is now “{team.name}” ({team.slug})."

    return _team_answer(request, team_id, "rename_form", form, call)


def _team_act(request: HttpRequest, team_id: int, call: Callable[[User], str]) -> HttpResponse:
    actor = _actor(request)
    team = get_object_or_404(Team, pk=team_id)
    try:
        flash = call(actor)
    except ServiceError as exc:
        return _render(request, TEAM, _team_context(team, error=exc.message), exc.status)
    if not is_htmx(request):
        return redirect("people:team", team_id)
    return _render(request, TEAM, _team_context(team, flash=flash))


@require_POST
@login_required
def team_revoke(request: HttpRequest, team_id: int, grant_id: int) -> HttpResponse:
    def call(actor: User) -> str:
        people.revoke_role(grant_id=grant_id, team_id=team_id, actor=actor)
        return "Role revoked."

    return _team_act(request, team_id, call)


@require_POST
@login_required
def team_release(request: HttpRequest, team_id: int, application_id: int) -> HttpResponse:
    def call(actor: User) -> str:
        app = get_object_or_404(Application, pk=application_id, team_id=team_id)
        application_assign_team(application_id=app.pk, team_id=None, actor=actor)
        return f"{app.name} belongs to no team now: only organisation-wide roles act on it."

    return _team_act(request, team_id, call)


# Live parts: polled by the open page, 204 while nothing changed


@require_GET
@live_poll(people_live, _unchanged)
@login_required
def people_list_live(request: HttpRequest) -> HttpResponse:
    _actor(request)
    return render(request, f"{PEOPLE}#people-list", _live(request, PEOPLE, _people_context()))


@require_GET
@live_poll(team_live, _unchanged)
@login_required
def team_members_live(request: HttpRequest, team_id: int) -> HttpResponse:
    _actor(request)
    team = get_object_or_404(Team, pk=team_id)
    return render(request, f"{TEAM}#team-live", _live(request, TEAM, _team_context(team)))
