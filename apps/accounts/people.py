"""Writes about people, teams and the roles they hold; administrators only.

Every function here asks `require(actor, Action.MANAGE_PEOPLE)` first, so the pages, the API
and the commands refuse with the same message. Grants made here are manual; single sign-on
writes its own, with the same audit shape (`grant_snapshot`).
"""

import logging
from collections.abc import Collection
from importlib import import_module
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.audit.services import audit_record
from apps.core.errors import NotFound, ServiceError

from .models import GrantSource, RoleGrant, Team, UserSession
from .permissions import Action, require
from .roles import ORG_ONLY, TIERED, Role, tier_values
from .sso_config import password_login

log = logging.getLogger(__name__)


# People


def _person_snapshot(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": user.is_active,
    }


def _first_message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _check_email(email: str) -> str:
    email = email.strip()
    if not email:
        raise ServiceError(
            "Give an e-mail address: the set-password link goes there.", field="email"
        )
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError("Enter a valid e-mail address.", field="email") from None
    return email


def _check_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError(_first_message(exc), field="password") from None


def _passwords_on(field: str) -> None:
    if not password_login():
        raise ServiceError(
            "Password sign-in is turned off (RELEASEDECK_PASSWORD_LOGIN): people sign in "
            "through single sign-on, so there is no password to set.",
            field=field,
        )


def _locked_user(user_id: int) -> User:
    user = get_user_model().objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such person.", field="user")
    return user


def user_create(
    *,
    username: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
    actor: User,
) -> User:
    """Add a person. Without a password they cannot sign in until they set one (through the
    set-password link) or sign in through single sign-on."""
    require(actor, Action.MANAGE_PEOPLE)
    username = username.strip()
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise ServiceError(_first_message(exc), field="username") from None
    email = _check_email(email)
    model = get_user_model()
    user = model(username=username, email=email, first_name=first_name, last_name=last_name)
    if password:
        _passwords_on("password")
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    taken = ServiceError(f"Someone is already called {username!r}.", field="username")
    with transaction.atomic():
        if model.objects.filter(username__iexact=username).exists():
            raise taken
        try:
            with transaction.atomic():  # a twin request may have won since the check
                user.save()
        except IntegrityError:
            raise taken from None
        audit_record(actor=actor, verb="user.created", obj=user, after=_person_snapshot(user))
    return user


class PersonChanges(TypedDict, total=False):
    email: str
    first_name: str
    last_name: str


def user_update(*, user_id: int, actor: User, **changes: Any) -> User:
    """Change a person's e-mail address or name; unchanged values write nothing."""
    require(actor, Action.MANAGE_PEOPLE)
    unknown = set(changes) - set(PersonChanges.__annotations__)
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))} here.")
    if "email" in changes:
        changes["email"] = _check_email(changes["email"])
    with transaction.atomic():
        user = _locked_user(user_id)
        before = _person_snapshot(user)
        fields = [name for name, value in changes.items() if getattr(user, name) != value]
        if not fields:
            return user
        for name in fields:
            setattr(user, name, changes[name])
        user.save(update_fields=fields)
        after = _person_snapshot(user)
        audit_record(
            actor=actor,
            verb="user.updated",
            obj=user,
            before={k: before[k] for k in fields},
            after={k: after[k] for k in fields},
        )
    return user


def _end_sessions(user: User) -> None:
    """Delete every session the person signed in with, through the configured session engine
    (cache and database alike), once this transaction has committed."""
    rows = UserSession.objects.filter(user=user)
    keys = list(rows.values_list("session_key", flat=True))
    rows.delete()
    store = import_module(settings.SESSION_ENGINE).SessionStore

    def end() -> None:
        for key in keys:
            store(session_key=key).delete()

    transaction.on_commit(end)


def user_deactivate(*, user_id: int, actor: User) -> User:
    """Stop a person's access: their sessions end, and their API tokens and live pages are
    refused from their next request. Their history and roles stay."""
    require(actor, Action.MANAGE_PEOPLE)
    if user_id == actor.pk:
        raise ServiceError(
            "You cannot deactivate yourself: you would lock yourself out. "
            "Another administrator can.",
            field="user",
        )
    with transaction.atomic():
        user = _locked_user(user_id)
        if not user.is_active:
            return user
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            verb="user.deactivated",
            obj=user,
            before={"is_active": True},
            after={"is_active": False},
        )
        _end_sessions(user)
    return user


def user_reactivate(*, user_id: int, actor: User) -> User:
    """Let a deactivated person sign in again, with the roles they held."""
    require(actor, Action.MANAGE_PEOPLE)
    with transaction.atomic():
        user = _locked_user(user_id)
        if user.is_active:
            return user
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            verb="user.reactivated",
            obj=user,
            before={"is_active": False},
            after={"is_active": True},
        )
    return user


def user_set_password(*, user_id: int, password: str, actor: User) -> User:
    """An administrator sets a person's password (tell it to them in person); the person's
    other sessions end, as Django ends them whenever a password changes."""
    require(actor, Action.MANAGE_PEOPLE)
    _passwords_on("password")
    with transaction.atomic():
        user = _locked_user(user_id)
        _check_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=actor, verb="user.password_set", obj=user)
        _end_sessions(user)
    return user


def set_password_link(user: User) -> str:
    """The address where `user` chooses a new password; valid until they use it, their password
    changes, or settings.PASSWORD_RESET_TIMEOUT passes."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{settings.RELEASEDECK_PUBLIC_URL.rstrip('/')}{path}"


def _mail_set_password_link(user_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    body = (
        f"Hello {user.get_full_name() or user.username},\n\n"
        f"Choose your ReleaseDeck password here (sign-in name: {user.username}):\n\n"
        f"{set_password_link(user)}\n\n"
        f"The link works once, for {hours} hours. If you did not expect it, ignore this mail.\n"
    )
    try:
        send_mail(
            "[ReleaseDeck] Choose your password", body, settings.DEFAULT_FROM_EMAIL, [user.email]
        )
    except Exception:  # the change is committed; a mail server's failure is logged, not raised
        log.exception("set-password link to user %s not sent", user_id)


def user_send_set_password_link(*, user_id: int, actor: User) -> User:
    """Mail the person a link to choose their password, after this commits. The link itself is
    made at sending time and stored nowhere."""
    require(actor, Action.MANAGE_PEOPLE)
    _passwords_on("user")
    with transaction.atomic():
        user = _locked_user(user_id)
        if not user.is_active:
            raise ServiceError(
                f"{user.username} is deactivated; reactivate them first.", field="user"
            )
        if not user.email:
            raise ServiceError(
                f"{user.username} has no e-mail address; add one first.", field="email"
            )
        audit_record(
            actor=actor,
            verb="user.password_set_link_sent",
            obj=user,
            after={"email": user.email},
        )
        transaction.on_commit(lambda: _mail_set_password_link(user.pk))
    return user


# Teams


def _check_team(name: str, slug: str, *, team_id: int | None = None) -> None:
    if not name.strip():
        raise ServiceError("Give the team a name.", field="name")
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise ServiceError(_first_message(exc), field="slug") from None
    others = Team.objects.all() if team_id is None else Team.objects.exclude(pk=team_id)
    if others.filter(name__iexact=name).exists():
        raise ServiceError(f"A team is already called {name!r}.", field="name")
    if others.filter(slug__iexact=slug).exists():
        raise ServiceError(f"A team already has the short name {slug!r}.", field="slug")


def team_create(*, name: str, slug: str, actor: User) -> Team:
    """Add a team; applications are then given to it and roles granted in it."""
    require(actor, Action.MANAGE_PEOPLE)
    name, slug = name.strip(), slug.strip()
    with transaction.atomic():
        _check_team(name, slug)
        try:
            with transaction.atomic():  # a twin request may have won since the check
                team = Team.objects.create(name=name, slug=slug)
        except IntegrityError:
            raise ServiceError(f"A team is already called {name!r}.", field="name") from None
        audit_record(actor=actor, verb="team.created", obj=team, after={"name": name, "slug": slug})
    return team


def team_update(
    *, team_id: int, actor: User, name: str | None = None, slug: str | None = None
) -> Team:
    """Rename a team or change its short name (single sign-on group mappings name the slug)."""
    require(actor, Action.MANAGE_PEOPLE)
    with transaction.atomic():
        team = Team.objects.select_for_update().filter(pk=team_id).first()
        if team is None:
            raise NotFound("No such team.", field="team")
        new = {"name": team.name if name is None else name.strip()}
        new["slug"] = team.slug if slug is None else slug.strip()
        fields = [f for f in ("name", "slug") if getattr(team, f) != new[f]]
        if not fields:
            return team
        _check_team(new["name"], new["slug"], team_id=team.pk)
        before = {f: getattr(team, f) for f in fields}
        for f in fields:
            setattr(team, f, new[f])
        team.save(update_fields=fields)
        audit_record(
            actor=actor,
            verb="team.updated",
            obj=team,
            before=before,
            after={f: new[f] for f in fields},
        )
    return team


# Role grants


def grant_snapshot(grant: RoleGrant) -> dict[str, Any]:
    """What the audit trail records of a grant, as `role.granted` after and `role.revoked`
    before; single sign-on records its grants the same way."""
    return {
        "user": grant.user.get_username(),
        "role": grant.role,
        "team": grant.team.slug if grant.team is not None else None,
        "tiers": list(grant.tiers),
        "source": grant.source,
    }


def _check_tiers(role: str, tiers: Collection[str]) -> list[str]:
    if not tiers:
        return []
    if role not in TIERED:
        limited = ", ".join(sorted(Role(r).label.lower() for r in TIERED))
        raise ServiceError(
            f"Only an {limited} role may be limited to tiers; leave the tiers empty.",
            field="tiers",
        )
    known = tier_values()
    unknown = sorted(set(tiers) - set(known))
    if unknown:
        raise ServiceError(
            f"{', '.join(unknown)} is not a tier; the tiers are {', '.join(known)}.",
            field="tiers",
        )
    return [t for t in known if t in tiers]  # one order, whatever order they came in


def grant_role(
    *,
    user_id: int,
    role: str,
    actor: User,
    team_id: int | None = None,
    tiers: Collection[str] = (),
) -> RoleGrant:
    """Give a person a role in a team, or organisation-wide without one; an operator's role may
    be limited to environment tiers (none: every tier). Granting it again changes nothing."""
    require(actor, Action.MANAGE_PEOPLE)
    if role not in Role.values:
        raise ServiceError(f"{role!r} is not a role.", field="role")
    if team_id is not None and role in ORG_ONLY:
        raise ServiceError(
            f"The {Role(role).label.lower()} role is held organisation-wide only: "
            "it acts on things every team shares. Grant it without a team.",
            field="role",
        )
    wanted = _check_tiers(role, tiers)
    with transaction.atomic():
        # Named in a request's body, not its path: a missing person is a field error.
        user = get_user_model().objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            raise ServiceError("No such person.", field="user")
        if not user.is_active:
            raise ServiceError(
                f"{user.username} is deactivated; reactivate them first.", field="user"
            )
        team = None
        if team_id is not None:
            team = Team.objects.filter(pk=team_id).first()
            if team is None:
                raise NotFound("No such team.", field="team")
        existing = (
            RoleGrant.objects.select_related("user", "team")
            .filter(user=user, role=role, team=team)
            .first()
        )
        if existing is not None:
            if list(existing.tiers) == wanted:
                return existing
            where = f"in {team.name}" if team else "organisation-wide"
            raise ServiceError(
                f"{user.username} already holds this role {where} for other tiers; "
                "revoke that grant first.",
                field="tiers",
            )
        grant = RoleGrant.objects.create(
            user=user, role=role, team=team, tiers=wanted, source=GrantSource.MANUAL
        )
        audit_record(actor=actor, verb="role.granted", obj=grant, after=grant_snapshot(grant))
    return grant


def revoke_role(*, grant_id: int, actor: User, team_id: int | None = None) -> None:
    """Take a role away; with `team_id`, only a grant in that team. An administrator cannot take
    away their own administrator role."""
    require(actor, Action.MANAGE_PEOPLE)
    with transaction.atomic():
        found = RoleGrant.objects.select_for_update().filter(pk=grant_id)
        if team_id is not None:
            found = found.filter(team_id=team_id)
        grant = found.first()
        if grant is None:
            raise NotFound("No such grant.", field="grant")
        if grant.user_id == actor.pk and grant.role == Role.ADMINISTRATOR and grant.team_id is None:
            raise ServiceError(
                "You cannot take away your own administrator role: you would lock yourself "
                "out. Another administrator can.",
                field="grant",
            )
        audit_record(actor=actor, verb="role.revoked", obj=grant, before=grant_snapshot(grant))
        grant.delete()
