"""A real OpenID Connect provider on loopback (oidc-provider-mock), for the single sign-on tests.

It accepts any client id and secret, signs ID tokens with RS256 and publishes its keys; the
claims of a subject are set with `Provider.set_claims` before that subject signs in.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import werkzeug.serving


@dataclass(frozen=True)
class Provider:
    issuer: str

    def set_claims(self, sub: str, **claims: object) -> None:
        httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5).raise_for_status()

    def authorize(self, authorize_url: str, sub: str) -> str:
        """What a person signing in as `sub` on the provider's page is sent back to."""
        answer = httpx.post(authorize_url, data={"sub": sub}, timeout=5)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    """Serve the provider on 127.0.0.1 at a free port until the block ends."""
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, oidc_provider_mock.app(require_nonce=True), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield Provider(issuer=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
