"""Signing in through the company's OpenID Connect provider, on mozilla-django-oidc.

The provider's endpoints are discovered from its issuer at the first sign-in through it and
kept for the life of the process (a provider that does not answer then costs no process its
start). Its ID tokens are RS256, checked against its published keys, and must name this
client and that issuer; the state and nonce of each sign-in are checked by the library.
"""

import functools
import logging
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .sso import sso_signed_in
from .sso_config import SsoConfig, sso_config

logger = logging.getLogger(__name__)

USERNAME_LENGTH = User._meta.get_field("username").max_length or 150
EMAIL_LENGTH = User._meta.get_field("email").max_length or 254


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str


@functools.lru_cache(maxsize=4)
def discover(issuer: str) -> Provider:
    """The provider's endpoints from its discovery document; raises on failure (not cached)."""
    response = requests.get(
        f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT
    )
    response.raise_for_status()
    document = response.json()
    # OpenID Connect Discovery 1.0, section 4.3: the document speaks for the issuer asked.
    if document.get("issuer", "").rstrip("/") != issuer:
        raise SuspiciousOperation(f"The discovery document of {issuer} names another issuer.")
    return Provider(
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        userinfo_endpoint=document["userinfo_endpoint"],
        jwks_uri=document["jwks_uri"],
    )


class OidcBackend(OIDCAuthenticationBackend):
    """Signs in the person the provider vouches for, matched to their account by email or
    username, created at their first sign-in, and brings their roles in line with their groups.

    The username is the provider's `preferred_username` (else the email): the name people know
    each other by on release pages and in the audit trail. `sub` is stable but opaque, so it is
    recorded with every sign-in rather than shown.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads its endpoints here; Django makes a backend for every sign-in,
        # password ones too, so they are read only once someone signs in through the provider.
        self.UserModel = get_user_model()

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        config = sso_config()
        # Only our callback passes a nonce: a password form posted with ?code=&state= must not
        # start a provider sign-in without one.
        if request is None or config is None or not kwargs.get("nonce"):
            return None
        provider = discover(config.issuer)
        self.config = config
        self.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = config.client_id
        self.OIDC_RP_CLIENT_SECRET = config.client_secret
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        user: User | None = super().authenticate(request, **kwargs)
        return user

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        """The provider's published key that signed `token`: the one of its key id, or its
        only RS256 key when the token names none (the library insists on a key id)."""
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        header = jwt.get_unverified_header(token)
        keys = [
            key
            for key in response.json().get("keys", [])
            if key.get("kty") == "RSA"
            and key.get("alg", "RS256") == "RS256"
            and key.get("use", "sig") == "sig"
        ]
        if "kid" in header:
            keys = [key for key in keys if key.get("kid") == header["kid"]]
        if len(keys) != 1:
            raise SuspiciousOperation("No single published key of the provider fits the token.")
        return jwt.PyJWK(keys[0])

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        # The library checks signature, expiry and nonce; the audience and issuer are ours.
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.config.client_id not in audiences:
            raise SuspiciousOperation("The ID token was issued to another client.")
        if len(audiences) > 1 and payload.get("azp") != self.config.client_id:
            raise SuspiciousOperation("The ID token was issued to another party.")
        if str(payload.get("iss", "")).rstrip("/") != self.config.issuer:
            raise SuspiciousOperation("The ID token comes from another issuer.")
        return payload

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The user info is about someone else than the ID token.")
        claims = {**payload, **userinfo}
        groups = _groups(claims, self.config)
        with transaction.atomic():
            user, created = self._account_for(claims)
            if user is None:
                return None
            if not user.is_active:
                self._refuse("Your ReleaseDeck account is switched off; ask an administrator.")
                return None
            sso_signed_in(
                user=user,
                subject=str(claims["sub"]),
                groups=groups,
                role_map=self.config.role_map,
                created=created,
                address=str(self.request.META.get("REMOTE_ADDR", ""))[:64],
            )
        return user

    def _refuse(self, message: str) -> None:
        logger.warning("single sign-on refused: %s", message)
        messages.error(self.request, message)

    def _account_for(self, claims: dict[str, Any]) -> tuple[User | None, bool]:
        """The account these claims speak for, created if there is none; None when matching it
        would be a guess. An existing account's email is never replaced from the claims (only
        filled in when empty): it is what tells two people of one name apart."""
        # An address the provider says it has not verified is neither matched nor kept: anyone
        # could have typed it there.
        email = str(claims.get("email") or "").strip()
        if claims.get("email_verified") is False or len(email) > EMAIL_LENGTH:
            email = ""
        username = str(claims.get("preferred_username") or email).strip()
        try:
            UnicodeUsernameValidator()(username)
            if len(username) > USERNAME_LENGTH:
                raise ValidationError("too long")
        except ValidationError:
            self._refuse("The identity provider sent no usable username or email.")
            return None, False
        by_email = list(self.UserModel.objects.filter(email__iexact=email)[:2]) if email else []
        by_name = self.UserModel.objects.filter(username=username).first()
        if len(by_email) > 1:
            self._refuse("Several ReleaseDeck accounts have your email; ask an administrator.")
            return None, False
        if by_email and by_name is not None and by_email[0].pk != by_name.pk:
            self._refuse(
                "Your email and your username belong to two ReleaseDeck accounts; "
                "ask an administrator."
            )
            return None, False
        if not by_email and by_name is not None and by_name.email:
            # Same name, another address (or none we can trust): not known to be that person.
            self._refuse(
                "A ReleaseDeck account of your username has another email; ask an administrator."
            )
            return None, False
        user = by_email[0] if by_email else by_name
        names = {
            "first_name": str(claims.get("given_name") or "")[:150],
            "last_name": str(claims.get("family_name") or "")[:150],
        }
        if user is None:
            created = self.UserModel.objects.create_user(username, email=email, **names)
            return created, True
        updates = {field: value for field, value in names.items() if value}
        if email and not user.email:
            updates["email"] = email
        changed = [field for field, value in updates.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, updates[field])
        if changed:
            user.save(update_fields=changed)
        return user, False

    def get_user(self, user_id: int) -> User | None:
        # The library's would keep a switched-off person signed in; Django's own backend does not.
        user: User | None = super().get_user(user_id)
        return user if user is not None and user.is_active else None


def _groups(claims: dict[str, Any], config: SsoConfig) -> list[str]:
    value = claims.get(config.groups_claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _to_login(request: HttpRequest, message: str | None = None) -> HttpResponse:
    if message:
        messages.error(request, message)
    return HttpResponseRedirect(reverse("login"))


class OidcSignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's sign-in page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        config = sso_config()
        if attr == "OIDC_RP_SCOPES" and config is not None:
            return config.scopes
        return getattr(settings, attr, *args)

    def get(self, request: HttpRequest) -> HttpResponse:
        config = sso_config()
        if config is None:
            raise Http404("Single sign-on is not configured.")
        try:
            provider = discover(config.issuer)
        except (requests.RequestException, ValueError, KeyError, SuspiciousOperation):
            logger.warning(
                "the identity provider %s cannot be reached", config.issuer, exc_info=True
            )
            return _to_login(request, f"{config.name} does not answer; try again in a moment.")
        self.OIDC_OP_AUTH_ENDPOINT = provider.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = config.client_id
        response: HttpResponse = super().get(request)
        return response


class OidcCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back; every failure lands on the sign-in page with
    a sentence saying what happened."""

    def get(self, request: HttpRequest) -> HttpResponse:
        config = sso_config()
        if config is None:
            raise Http404("Single sign-on is not configured.")
        try:
            response: HttpResponse = super().get(request)
        except SuspiciousOperation as exc:
            # A state this browser did not start, a nonce or signature that does not match.
            logger.warning("single sign-on callback refused: %s", exc)
            return _to_login(
                request, f"That {config.name} answer could not be verified; sign in again."
            )
        except (requests.RequestException, ValueError, KeyError):
            logger.warning("the identity provider %s failed", config.issuer, exc_info=True)
            return _to_login(request, f"{config.name} did not answer; try again in a moment.")
        return response

    def login_failure(self) -> HttpResponse:
        request = self.request
        config = sso_config()
        name = config.name if config is not None else "single sign-on"
        error = request.GET.get("error")
        if error == "access_denied":
            return _to_login(request, f"{name} did not sign you in.")
        if error:
            return _to_login(request, f"{name} refused the sign-in ({error[:60]}).")
        if "code" not in request.GET or "state" not in request.GET:
            return _to_login(request, f"That {name} answer was incomplete; sign in again.")
        # The backend has said why already when it refused the account.
        if not len(messages.get_messages(request)):
            return _to_login(request, f"{name} did not sign you in; try again.")
        return _to_login(request)
