"""API token authentication: `Authorization: Token <key>`, looked up by the key's SHA-256."""

import hashlib
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from .api_guards import failed_token_counted, failed_tokens_refuse
from .models import ApiToken

KEYWORD = "Token"
# Writing last_used_at on every request would turn every read into a write; a minute is enough.
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def token_with_user(key_hash: str) -> ApiToken | None:
    """The token with this hash and its user, in one query. The user's roles are read once,
    by the first permission check that asks (`permissions.user_roles`)."""
    try:
        return ApiToken.objects.select_related("user").get(key_hash=key_hash)
    except ApiToken.DoesNotExist:
        return None


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates a request carrying a per-user API token; `request.auth` is the ApiToken."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        failed_tokens_refuse(request)
        try:
            return self._authenticate_key(parts)
        except exceptions.AuthenticationFailed:
            failed_token_counted(request)
            raise

    def _authenticate_key(self, parts: list[bytes]) -> tuple[AbstractBaseUser, ApiToken]:
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: send `Authorization: Token <key>`."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = token_with_user(hash_key(key))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal API token, sent as `Token <key>`.",
        }
