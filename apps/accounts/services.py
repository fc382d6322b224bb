"""Writes about people's own access: their API tokens."""

import secrets

from django.contrib.auth.models import User
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.errors import NotFound, ServiceError

from .authentication import hash_key
from .models import ApiToken

MAX_TOKENS_PER_USER = 50


def api_token_create(*, actor: User, name: str, read_only: bool = False) -> tuple[ApiToken, str]:
    """Create a token for `actor`; returns it with its key, which is never retrievable again."""
    if not actor.is_authenticated or not actor.is_active:
        raise ServiceError("Sign in first.")
    key = secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiToken.objects.filter(user=actor).count() >= MAX_TOKENS_PER_USER:
            raise ServiceError(
                f"You have {MAX_TOKENS_PER_USER} tokens already; revoke one first.", field="name"
            )
        token = ApiToken.objects.create(
            user=actor, name=name, key_hash=hash_key(key), prefix=key[:8], read_only=read_only
        )
        audit_record(
            actor=actor,
            verb="api_token.created",
            obj=token,
            after={"name": name, "prefix": token.prefix, "read_only": read_only},
        )
    return token, key


def api_token_revoke(*, token_id: int, actor: User) -> None:
    """Revoke one of `actor`'s own tokens; it stops working at once."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, user=actor).first()
        if token is None:
            # Someone else's token is as invisible as a missing one.
            raise NotFound("No such token.", field="token")
        audit_record(
            actor=actor,
            verb="api_token.revoked",
            obj=token,
            before={"name": token.name, "prefix": token.prefix, "read_only": token.read_only},
        )
        token.delete()


def api_token_issue(*, user: User, name: str, rotate: bool = False, read_only: bool = False) -> str:
    """For scripts: a new key for `user`; `rotate` first revokes their tokens of that name."""
    with transaction.atomic():
        if rotate:
            for token_id in ApiToken.objects.filter(user=user, name=name).values_list(
                "pk", flat=True
            ):
                api_token_revoke(token_id=token_id, actor=user)
        _, key = api_token_create(actor=user, name=name, read_only=read_only)
    return key
