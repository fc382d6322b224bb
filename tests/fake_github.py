"""A fake GitHub API on loopback for the deployment protection tests: it hands out installation
tokens to a JWT signed with the App's key (checked against the public key) and records the
answers posted to deployment callback URLs, with the token they carried.

One server and one App key serve the whole session, so the Celery worker, started once, knows
them from its environment; each test clears what was recorded and may change the answers."""

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.loopback import Recorder, loopback_server

APP_ID = "4242"
WEBHOOK_SECRET = "github-webhook-test-secret"
TOKEN_PATH = re.compile(r"^/app/installations/(\d+)/access_tokens$")
CALLBACK_PATH = re.compile(r"^/repos/[^/]+/[^/]+/actions/runs/\d+/deployment_protection_rule$")


@dataclass
class FakeGithub:
    url: str
    key_path: Path
    public_key: Any
    recorder: Recorder
    # Statuses to answer callbacks with before accepting them (e.g. [502, 502]).
    callback_failures: list[int] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # token → installation
    accepted: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def env(self) -> dict[str, str]:
        return {
            "RELEASEDECK_GITHUB_API_URL": self.url,
            "RELEASEDECK_GITHUB_APP_ID": APP_ID,
            "RELEASEDECK_GITHUB_PRIVATE_KEY": str(self.key_path),
            "RELEASEDECK_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }

    def reset(self) -> None:
        with self.recorder.lock:
            self.recorder.requests.clear()
        with self.lock:
            self.callback_failures.clear()
            self.accepted.clear()

    def callbacks(self) -> list[dict[str, Any]]:
        """The answers it accepted: their path, bearer token and JSON body."""
        with self.lock:
            return list(self.accepted)

    def token_requests(self) -> int:
        return sum(1 for r in self.recorder.received("POST") if TOKEN_PATH.match(r["path"]))

    def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
        bearer = headers.get("Authorization", "").removeprefix("Bearer ")
        token_path = TOKEN_PATH.match(path)
        if method == "POST" and token_path:
            try:
                claims = jwt.decode(bearer, self.public_key, algorithms=["RS256"], issuer=APP_ID)
            except jwt.PyJWTError as exc:
                return 401, {"message": f"A JSON web token could not be decoded: {exc}"}
            assert claims["exp"] - claims["iat"] <= 600
            token = f"ghs_{token_path.group(1)}_{len(self.tokens)}"
            with self.lock:
                self.tokens[token] = int(token_path.group(1))
            return 201, {"token": token, "expires_at": "2099-01-01T00:00:00Z"}
        if method == "POST" and CALLBACK_PATH.match(path):
            if bearer not in self.tokens:
                return 401, {"message": "Bad credentials"}
            with self.lock:
                if self.callback_failures:
                    return self.callback_failures.pop(0), {"message": "Server Error"}
                self.accepted.append({"path": path, "token": bearer, "body": json.loads(body)})
            return 204, b""
        return 404, {"message": "Not Found"}


@pytest.fixture(scope="session")
def fake_github_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGithub]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = tmp_path_factory.mktemp("github-app") / "app.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    holder: dict[str, FakeGithub] = {}

    def respond(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
        return holder["fake"].respond(method, path, headers, body)

    with loopback_server(respond) as (url, recorder):
        holder["fake"] = FakeGithub(url, key_path, key.public_key(), recorder)
        yield holder["fake"]
