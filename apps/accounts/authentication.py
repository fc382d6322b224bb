"""API token authentication: `Authorization: Token <key>`, looked up by the key's SHA-256."""

import functools
import hashlib
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from .access import failed_token_counted, failed_tokens_refuse
from .models import ApiToken

KEYWORD = "Token"
# Writing last_used_at on every request would turn every read into a write; a minute is enough.
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@functools.cache
def _token_lookup(alias: str) -> tuple[str, int, int]:
    """The SQL for one query that reads a token, its user and the user's roles (one row per
    role), and the number of token and user columns in a row.

    Built by the ORM from the models, once per process: compiling this join costs more than
    running it, and every token request runs it.
    """
    user_fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    token_fields = [f.attname for f in ApiToken._meta.concrete_fields]
    query = (
        ApiToken.objects.using(alias)
        .filter(key_hash="")
        .order_by()
        .values_list(*token_fields, *(f"user__{f}" for f in user_fields), "user__groups__name")
        .query
    )
    sql, params = query.sql_with_params()
    if len(params) != 1:
        raise ImproperlyConfigured(f"The token lookup expects one parameter, got {params!r}.")
    return sql, len(token_fields), len(user_fields)


def _find_token(key_hash: str) -> tuple[ApiToken, frozenset[str]] | None:
    alias = router.db_for_read(ApiToken)
    sql, n_token, n_user = _token_lookup(alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        rows = cursor.fetchall()
    if not rows:
        return None
    User = get_user_model()
    row = _converted(rows[0], alias)
    token = ApiToken.from_db(alias, None, row[:n_token])
    token.user = User.from_db(alias, None, row[n_token : n_token + n_user])
    return token, frozenset(r[-1] for r in rows if r[-1])


def _converted(row: tuple, alias: str) -> tuple:
    """Apply the backend's value converters to the token and user columns, as the ORM would
    (SQLite's datetimes and booleans; PostgreSQL has none for these fields)."""
    connection = connections[alias]
    fields = [*ApiToken._meta.concrete_fields, *get_user_model()._meta.concrete_fields]
    values = list(row[: len(fields)])
    for i, field in enumerate(fields):
        column = field.cached_col
        for convert in (
            *connection.ops.get_db_converters(column),
            *column.get_db_converters(connection),
        ):
            values[i] = convert(values[i], column, connection)
    return tuple(values)


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates a request carrying a per-user API token; `request.auth` is the ApiToken."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        failed_tokens_refuse(request)
        try:
            return self._authenticate_key(parts)
        except exceptions.AuthenticationFailed:
            failed_token_counted(request)
            raise

    def _authenticate_key(self, parts: list[bytes]) -> tuple[Any, ApiToken]:
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: send `Authorization: Token <key>`."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        found = _find_token(hash_key(key))
        if found is None or not found[0].user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token, roles = found
        # The permission check that follows reads the roles from here and needs no query.
        token.user._releasedeck_roles = roles
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
