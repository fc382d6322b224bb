"""Writes to the applications releases belong to."""

from typing import TypedDict, Unpack

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core.errors import NotFound, ServiceError

from ..models import Application

# Release managers create releases, and so the applications those releases belong to.
APPLICATION_ACTION = Action.CREATE_RELEASE

# What the services take is shaped and checked by the API's serializers; the services check
# permission, existence and uniqueness.


class ApplicationChanges(TypedDict, total=False):
    name: str
    slug: str
    description: str


def _snapshot(app: Application) -> dict[str, str]:
    return {"name": app.name, "slug": app.slug, "description": app.description}


def _save(app: Application, *, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            app.save(update_fields=update_fields)
    except IntegrityError:
        raise ServiceError(
            "Another application already has that name or slug.", field="name"
        ) from None


def application_create(*, name: str, slug: str, actor: User, description: str = "") -> Application:
    """Add an application; creating the same one again returns it."""
    # A new application belongs to no team yet, so only an organisation-wide role adds one.
    require(actor, APPLICATION_ACTION, Application())
    with transaction.atomic():
        existing = Application.objects.filter(slug=slug, name=name).first()
        if existing is not None and existing.description == description:
            return existing  # a retried create
        app = Application(name=name, slug=slug, description=description)
        _save(app)
        audit_record(actor=actor, verb="application.created", obj=app, after=_snapshot(app))
    return app


def application_update(
    *, application_id: int, actor: User, **changes: Unpack[ApplicationChanges]
) -> Application:
    """Change an application; only the fields given, and only if they differ."""
    require(actor, APPLICATION_ACTION)
    with transaction.atomic():
        app = Application.objects.select_for_update().filter(pk=application_id).first()
        if app is None:
            raise NotFound("No such application.", field="application")
        require(actor, APPLICATION_ACTION, app)
        before = _snapshot(app)
        changed = [f for f, v in changes.items() if getattr(app, f) != v]
        if not changed:
            return app
        for f, v in changes.items():
            setattr(app, f, v)
        _save(app, update_fields=[*changed, "updated_at"])
        after = _snapshot(app)
        audit_record(
            actor=actor,
            verb="application.updated",
            obj=app,
            before={f: before[f] for f in changed},
            after={f: after[f] for f in changed},
        )
    return app


def application_assign_team(
    *, application_id: int, team_id: int | None, actor: User
) -> Application:
    """Give an application to a team (None: to no team), whose roles then act on its releases.
    Administrators only: it moves who may do what."""
    from apps.accounts.models import Team

    require(actor, Action.MANAGE_PEOPLE)
    with transaction.atomic():
        app = Application.objects.select_for_update().filter(pk=application_id).first()
        if app is None:
            raise NotFound("No such application.", field="application")
        if team_id is not None and not Team.objects.filter(pk=team_id).exists():
            raise ServiceError("No such team.", field="team")
        if app.team_id == team_id:
            return app
        before = {"team": app.team_id}
        app.team_id = team_id
        app.save(update_fields=["team", "updated_at"])
        audit_record(
            actor=actor,
            verb="application.team_changed",
            obj=app,
            before=before,
            after={"team": team_id},
        )
    return app
