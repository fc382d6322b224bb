"""The REST API over httpx: answers as dicts, failures as CliError with the right exit code."""

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from . import __version__
from .errors import CliError, Exit

API = "/api/v1"
DEFAULT_TIMEOUT = 30.0


class Api:
    """One server, one token. `transport` lets tests answer without a network."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": f"releasedeck-cli/{__version__}"}
        if token:
            headers["Authorization"] = f"Token {token}"
        self.url = url
        self._held: dict[str, tuple[str, Any]] = {}
        self.http = httpx.Client(
            base_url=url + API, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> Any:
        """A GET; an answer with an ETag is kept, so asking again (a wait polling the status)
        sends If-None-Match and a 304 costs the server next to nothing."""
        params = _clean(params)
        url = str(self.http.build_request("GET", path, params=params).url)
        held = self._held.get(url)
        headers = {"If-None-Match": held[0]} if held else {}
        with self.errors():
            response = self.http.get(path, params=params, headers=headers)
        if response.status_code == 304 and held:
            return held[1]
        body = answer(response)
        if etag := response.headers.get("ETag"):
            self._held[url] = (etag, body)
        return body

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return self.call("POST", path, json=body)

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Send one request; 2xx answers give (status, JSON body), the rest raise."""
        with self.errors():
            response = self.http.request(method, path, **kwargs)
        return response.status_code, answer(response)

    @contextmanager
    def stream(self, path: str, **params: Any) -> Iterator[httpx.Response]:
        """A streamed GET (downloads); non-2xx answers raise before the caller reads."""
        with self.errors(), self.http.stream("GET", path, params=_clean(params)) as response:
            if not response.is_success:
                response.read()
                answer(response)
            yield response

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Network failures as messages a person can act on."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise CliError(
                f"{self.url} did not answer in time ({type(exc).__name__}).", Exit.SERVER
            ) from exc
        except httpx.ConnectError as exc:
            raise CliError(f"Cannot connect to {self.url}: {exc}.", Exit.SERVER) from exc
        except httpx.HTTPError as exc:
            raise CliError(f"Talking to {self.url} failed: {exc}.", Exit.SERVER) from exc


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v != ""}


def answer(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; a CliError carrying the API's own message otherwise."""
    body: Any
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    status = response.status_code
    if response.is_success:
        if body is None and response.content:
            raise CliError(
                f"The server answered {status} with something that is not JSON: is "
                f"{response.request.url} a ReleaseDeck API?",
                Exit.SERVER,
                status=status,
            )
        return body
    detail = body.get("detail") if isinstance(body, dict) else None
    blockers = body.get("blockers") if isinstance(body, dict) else None
    message = str(detail) if detail else f"The server answered {status} {response.reason_phrase}."
    if status in (401, 403):
        code = Exit.AUTH
        if status == 401:
            message = f"{message} Check the token (`releasedeck login`)."
    elif status >= 500 or status == 429 or (body is None and status not in (400, 404, 409)):
        # 429 too: throttled is "try again later", as an unavailable server is.
        code = Exit.SERVER
    else:
        code = Exit.REFUSED
    raise CliError(
        message, code, status=status, blockers=blockers if isinstance(blockers, list) else None
    )


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers a deploy tool signs its report with: HMAC-SHA256 over `<timestamp>.<body>`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-ReleaseDeck-Timestamp": str(timestamp),
        "X-ReleaseDeck-Signature": "sha256=" + digest.hexdigest(),
    }


def json_body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
