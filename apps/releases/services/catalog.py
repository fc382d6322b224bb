"""Writes to the applications releases belong to."""

from typing import Any

from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core.errors import NotFound, ServiceError
from apps.core.validation import clean_id, clean_text

from ..models import Application

# Release managers create releases, and so the applications those releases belong to.
APPLICATION_ACTION = Action.CREATE_RELEASE


def _clean_slug(value: Any) -> str:
    slug = clean_text(value, field="slug", max_length=64, required=True)
    try:
        validate_slug(slug)
    except Exception:
        raise ServiceError(
            "slug may hold only letters, digits, hyphens and underscores.", field="slug"
        ) from None
    return slug


def _snapshot(app: Application) -> dict[str, str]:
    return {"name": app.name, "slug": app.slug, "description": app.description}


def _save(app: Application, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            app.save(**kwargs)
    except IntegrityError:
        raise ServiceError(
            "Another application already has that name or slug.", field="name"
        ) from None


def application_create(*, name: Any, slug: Any, actor: Any, description: Any = "") -> Application:
    require(actor, APPLICATION_ACTION)
    name = clean_text(name, field="name", max_length=100, required=True)
    slug = _clean_slug(slug)
    description = clean_text(description, field="description", max_length=5000)
    with transaction.atomic():
        existing = Application.objects.filter(slug=slug, name=name).first()
        if existing is not None and existing.description == description:
            return existing  # a retried create
        app = Application(name=name, slug=slug, description=description)
        _save(app)
        audit_record(actor=actor, verb="application.created", obj=app, after=_snapshot(app))
    return app


def application_update(*, application_id: Any, actor: Any, **changes: Any) -> Application:
    require(actor, APPLICATION_ACTION)
    unknown = set(changes) - {"name", "slug", "description"}
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.", field=min(unknown))
    cleaned: dict[str, str] = {}
    if "name" in changes:
        cleaned["name"] = clean_text(changes["name"], field="name", max_length=100, required=True)
    if "slug" in changes:
        cleaned["slug"] = _clean_slug(changes["slug"])
    if "description" in changes:
        cleaned["description"] = clean_text(
            changes["description"], field="description", max_length=5000
        )
    with transaction.atomic():
        app = (
            Application.objects.select_for_update()
            .filter(pk=clean_id(application_id, field="application"))
            .first()
        )
        if app is None:
            raise NotFound("No such application.", field="application")
        before = _snapshot(app)
        changed = [f for f, v in cleaned.items() if getattr(app, f) != v]
        if not changed:
            return app
        for f in changed:
            setattr(app, f, cleaned[f])
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
