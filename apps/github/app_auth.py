"""Speaking to GitHub as the App: a JWT signed with the App's private key buys an installation
token, which the answer to a deployment protection rule carries."""

import json
import time
from pathlib import Path

import jwt
from django.conf import settings

from apps.core import egress

API_VERSION = "2022-11-28"
# GitHub refuses an App JWT that lives longer than 10 minutes; its clock may run a little behind.
JWT_LIFETIME = 540
CLOCK_SKEW = 60


class GithubUnavailable(Exception):
    """No installation token: GitHub did not answer, refused the App, or it is not configured."""


def api_url() -> str:
    return settings.RELEASEDECK_GITHUB_API_URL.rstrip("/")


def headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "ReleaseDeck",
        "Content-Type": "application/json",
    }


def private_key() -> str:
    """The App's private key: the PEM itself (newlines may be written `\\n`), or a file's path."""
    value = settings.RELEASEDECK_GITHUB_PRIVATE_KEY.strip()
    if not value:
        raise GithubUnavailable("RELEASEDECK_GITHUB_PRIVATE_KEY is not set.")
    if value.startswith("-----BEGIN"):
        return value.replace("\\n", "\n")
    try:
        return Path(value).read_text()
    except OSError:
        raise GithubUnavailable("The GitHub App's private key file cannot be read.") from None


def app_jwt(now: float | None = None) -> str:
    """The App's own credential, good for a few minutes (RS256, issued by the App id)."""
    if not settings.RELEASEDECK_GITHUB_APP_ID:
        raise GithubUnavailable("RELEASEDECK_GITHUB_APP_ID is not set.")
    now = time.time() if now is None else now
    claims = {
        "iat": int(now) - CLOCK_SKEW,
        "exp": int(now) + JWT_LIFETIME,
        "iss": str(settings.RELEASEDECK_GITHUB_APP_ID),
    }
    try:
        return jwt.encode(claims, private_key(), algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        raise GithubUnavailable("The GitHub App's private key is not a valid RSA key.") from None


def installation_token(installation_id: int) -> str:
    """A fresh token for the installation that sent the event (an hour's life; asked for per
    answer, which is rare enough not to need keeping)."""
    answer = egress.request(
        f"{api_url()}/app/installations/{installation_id}/access_tokens",
        method="POST",
        body=b"{}",
        headers=headers(app_jwt()),
        timeout=settings.RELEASEDECK_HTTP_TIMEOUT,
    )
    if answer.status is None:
        raise GithubUnavailable(f"Installation token: {answer.error}")
    if answer.status != 201:
        raise GithubUnavailable(f"Installation token: HTTP {answer.status}")
    try:
        token = json.loads(answer.body)["token"]
    except (ValueError, KeyError, TypeError):
        raise GithubUnavailable("Installation token: GitHub's answer held no token.") from None
    if not isinstance(token, str) or not token:
        raise GithubUnavailable("Installation token: GitHub's answer held no token.")
    return token
