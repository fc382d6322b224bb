"""What our backend checks of an ID token beyond mozilla-django-oidc: its audience and issuer,
and which of the provider's published keys signed it."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import SuspiciousOperation
from django.test import override_settings
from jwt.algorithms import RSAAlgorithm

from apps.accounts.oidc import OidcBackend
from apps.accounts.sso_config import sso_config
from tests.loopback import loopback_server

ISSUER = "https://idp.example.test"


def _key() -> tuple[rsa.RSAPrivateKey, dict]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, json.loads(RSAAlgorithm.to_jwk(private.public_key()))


@pytest.fixture
def backend(settings):
    settings.RELEASEDECK_OIDC_ISSUER = ISSUER
    settings.RELEASEDECK_OIDC_CLIENT_ID = "releasedeck"
    backend = OidcBackend()
    backend.config = sso_config()
    return backend


def _check(backend, monkeypatch, payload: dict) -> None:
    # Signature, expiry and nonce are the library's (and tested end to end); these are ours.
    monkeypatch.setattr(
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend.verify_token",
        lambda self, token, **kwargs: payload,
    )
    backend.verify_token("token", nonce="n")


def test_a_token_for_this_client_from_this_issuer_passes(backend, monkeypatch):
    _check(backend, monkeypatch, {"aud": "releasedeck", "iss": ISSUER})
    _check(
        backend, monkeypatch, {"aud": ["releasedeck", "api"], "azp": "releasedeck", "iss": ISSUER}
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"aud": "another-client", "iss": ISSUER},
        {"iss": ISSUER},
        {"aud": ["releasedeck", "api"], "azp": "api", "iss": ISSUER},
        {"aud": "releasedeck", "iss": "https://evil.example.test"},
        {"aud": "releasedeck"},
    ],
)
def test_a_token_for_another_client_or_from_another_issuer_is_refused(
    backend, monkeypatch, payload
):
    with pytest.raises(SuspiciousOperation):
        _check(backend, monkeypatch, payload)


def _token(private: rsa.RSAPrivateKey, kid: str | None) -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode({"sub": "x"}, private, algorithm="RS256", headers=headers)


@contextmanager
def publishing(backend, keys: list[dict]) -> Iterator[None]:
    """The provider's key set, served on loopback where the backend looks for it."""
    with loopback_server(lambda *request: (200, {"keys": keys})) as (url, _):
        backend.OIDC_OP_JWKS_ENDPOINT = f"{url}/jwks"
        yield


@override_settings(OIDC_TIMEOUT=5)
def test_the_key_is_the_one_of_the_tokens_key_id(backend):
    signer, signer_jwk = _key()
    _, other_jwk = _key()
    with publishing(backend, [{**other_jwk, "kid": "old"}, {**signer_jwk, "kid": "new"}]):
        key = backend.retrieve_matching_jwk(_token(signer, "new"))
        assert jwt.decode(_token(signer, "new"), key, algorithms=["RS256"]) == {"sub": "x"}
        with pytest.raises(SuspiciousOperation):
            backend.retrieve_matching_jwk(_token(signer, "gone"))


@override_settings(OIDC_TIMEOUT=5)
def test_a_token_without_a_key_id_needs_the_provider_to_publish_one_key(backend):
    signer, signer_jwk = _key()
    _, other_jwk = _key()
    with publishing(backend, [signer_jwk]):
        key = backend.retrieve_matching_jwk(_token(signer, None))
        assert jwt.decode(_token(signer, None), key, algorithms=["RS256"]) == {"sub": "x"}
    with publishing(backend, [signer_jwk, other_jwk]), pytest.raises(SuspiciousOperation):
        backend.retrieve_matching_jwk(_token(signer, None))
