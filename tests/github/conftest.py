import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest

from apps.releases import services as rs
from tests.builders import advance, planned_release
from tests.fake_github import WEBHOOK_SECRET, FakeGithub

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
INSTALLATION = 77
WEBHOOK = "/api/v1/github/webhook/"


@pytest.fixture
def github(fake_github_session: FakeGithub, settings: Any) -> FakeGithub:
    """The fake GitHub, cleared, and ReleaseDeck set up as its App (as the worker is)."""
    fake_github_session.reset()
    for name, value in fake_github_session.env().items():
        setattr(settings, name, value)
    settings.RELEASEDECK_GITHUB_ENVIRONMENTS = "production=prod-eu"
    return fake_github_session


def event(github: FakeGithub, *, sha: str = SHA, ref: str = "main", run: int = 1) -> dict:
    """A `deployment_protection_rule` event as GitHub sends it (trimmed of what is not read)."""
    return {
        "action": "requested",
        "environment": "production",
        "event": "push",
        "deployment_callback_url": (
            f"{github.url}/repos/acme/crm/actions/runs/{run}/deployment_protection_rule"
        ),
        "deployment": {"id": 1, "sha": sha, "ref": ref, "environment": "production"},
        "installation": {"id": INSTALLATION},
        "repository": {"full_name": "acme/crm"},
        "sender": {"login": "octocat"},
    }


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    client: Any,
    payload: Any,
    *,
    delivery: str | None = None,
    kind: str = "deployment_protection_rule",
    signature: str | None = None,
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "HTTP_X_GITHUB_EVENT": kind,
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
        "HTTP_X_HUB_SIGNATURE_256": sign(body) if signature is None else signature,
    }
    return client.post(WEBHOOK, data=body, content_type="application/json", **headers)


def release_at(rita: Any, alice: Any, bob: Any, phase: str) -> Any:
    """CRM 2.0.0 naming commit SHA, its one wave on prod-eu, moved to `phase`."""
    release = planned_release(rita, qa=alice, business_owner=bob)
    rs.release_update(release_id=release.pk, build_ref=f"git:{SHA[:12]}", actor=rita)
    return advance(release, rita, qa=alice, business_owner=bob, to=phase)
