"""Outbound HTTP to addresses people configure (checks, deploy tools, webhooks), kept away from
the inside of our own network.

A target's host is resolved once, every address it resolves to is checked against the networks
refused by default (loopback, link-local and the metadata address, private and other non-public
ranges) unless `RELEASEDECK_EGRESS_ALLOW` names the host or the network, and the connection goes
to the address that was checked, so a second DNS answer cannot slip past. Only GETs follow
redirects, each hop checked the same way; environment proxies are not used. Errors say that the
target did not answer, never how, so closed and filtered ports look alike.
"""

import functools
import http.client
import ipaddress
import logging
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from .errors import ServiceError

logger = logging.getLogger(__name__)

NO_ANSWER = "no answer from the target"
DENIED = "the target's address is not allowed"
INVALID = "the URL is not valid"
MAX_REDIRECTS = 3

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(OSError):
    """The target resolves to an address outside what outbound requests may reach."""


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: nothing answered (or the request was not sent)
    body: bytes
    error: str = ""


@dataclass(frozen=True)
class _Allowed:
    names: frozenset[str]
    domains: tuple[str, ...]  # "*.example.internal" allows every name under it
    networks: tuple[Network, ...]


@functools.lru_cache(maxsize=8)
def _parse_allowed(entries: tuple[str, ...]) -> _Allowed:
    names, domains, networks = set(), [], []
    for entry in (e.strip().lower().rstrip(".") for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            if entry.startswith("*."):
                domains.append(entry[1:])
            else:
                names.add(entry)
    return _Allowed(frozenset(names), tuple(domains), tuple(networks))


def _allowed() -> _Allowed:
    # Read per call, so a deployment's setting (or a test's override) applies at once.
    entries = getattr(settings, "RELEASEDECK_EGRESS_ALLOW", ())
    if isinstance(entries, str):
        entries = entries.split(",")
    return _parse_allowed(tuple(entries))


def _host_allowed(host: str) -> bool:
    host = host.lower().rstrip(".")
    allowed = _allowed()
    return host in allowed.names or any(host.endswith(d) for d in allowed.domains)


def refused_by_default(address: Address) -> bool:
    """Loopback, link-local (the cloud metadata address among them), private, shared,
    reserved, unspecified and multicast addresses: nothing a deploy tool on the internet uses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def address_allowed(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed().networks):
        return True
    return not refused_by_default(address)


def _numeric(host: str) -> Address | None:
    """The address a host written as a number stands for ("127.1", "2130706433", "::1"), found
    without asking DNS; None for a name."""
    try:
        info = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return ipaddress.ip_address(str(info[0][4][0]).split("%", 1)[0])


def _checked_addresses(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to, once; refused when any of them is not allowed."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
    )
    if not _host_allowed(host):
        refused = [a for a in addresses if not address_allowed(a)]
        if refused:
            logger.warning("Outbound request to %s refused: it resolves to %s", host, refused[0])
            raise EgressRefused(DENIED)
    return addresses


def _connect(host: str, port: int, timeout: Any, source_address: Any) -> socket.socket:
    error: OSError = OSError(NO_ANSWER)
    for address in _checked_addresses(host, port):
        try:
            return socket.create_connection((str(address), port), timeout, source_address)
        except OSError as exc:
            error = exc
    raise error


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        # source_address is set by HTTPConnection.__init__ but missing from typeshed.
        source: tuple[str, int] | None = self.source_address  # type: ignore[attr-defined]
        self.sock = _connect(self.host, self.port, self.timeout, source)


class _HTTPSConnection(http.client.HTTPSConnection, _HTTPConnection):
    """TLS over the checked connection; the certificate is verified against the URL's host."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req, context=_tls_context())


class _GetRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects of GETs only (a signed POST is not replayed elsewhere); every hop connects
    through the same checks."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if req.get_method() not in ("GET", "HEAD"):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        _HTTPHandler(),
        _HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _GetRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _failure(exc: BaseException) -> str:
    """The text kept for a request that got no HTTP answer: whether it was refused here, and
    nothing about what the network said."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, EgressRefused):
        return DENIED
    if isinstance(reason, ValueError | UnicodeError):
        return INVALID
    return NO_ANSWER


def request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float,
    max_bytes: int = 65536,
) -> Answer:
    """Send one request through the checks; never raises for network trouble or refusal."""
    problem = _url_problem(url)
    if problem:
        return Answer(None, b"", problem)
    try:
        req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        with _opener().open(req, timeout=timeout) as answer:
            return Answer(answer.status, answer.read(max_bytes))
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read(max_bytes) if exc.fp else b""
        except OSError:
            data = b""
        return Answer(exc.code, data)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        return Answer(None, b"", _failure(exc))


def post_json(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float
) -> tuple[int | None, str]:
    """POST and return (status, error text); status None when nothing answered."""
    answer = request(url, method="POST", body=body, headers=headers, timeout=timeout)
    if answer.status is None:
        return None, answer.error
    if 200 <= answer.status < 300:
        return answer.status, ""
    return answer.status, f"HTTP {answer.status}"


# --- checking a URL before it is saved ------------------------------------------------------


def _url_problem(url: Any) -> str:
    """INVALID, DENIED, or "" for an http(s) URL whose host, when written as an address (or
    `localhost`), is one outbound requests may reach. Names are resolved only when connecting."""
    if not isinstance(url, str):
        return INVALID
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return INVALID
    if parts.scheme not in ("http", "https") or not host:
        return INVALID
    if _host_allowed(host):
        return ""
    address = _numeric(host)
    if address is None and (host == "localhost" or host.endswith(".localhost")):
        address = ipaddress.ip_address("127.0.0.1")
    if address is not None and not address_allowed(address):
        return DENIED
    return ""


def check_url(url: Any, *, field: str, label: str | None = None) -> str:
    """The URL, if outbound requests may go there; else a ServiceError naming `field`.

    A host name passes here and is checked when connecting: the addresses it resolves to then
    are what counts, and they may differ from what the web server would be told now."""
    label = label or field
    problem = _url_problem(url)
    if problem == INVALID:
        raise ServiceError(f"{label} must be an http(s) URL.", field=field)
    if problem == DENIED:
        raise ServiceError(
            f"{label} points at a loopback, private or link-local address, which outbound "
            "requests may not reach (an administrator can allow it in RELEASEDECK_EGRESS_ALLOW).",
            field=field,
        )
    return url


def validate_url(value: Any) -> None:
    """`check_url` as a Django validator, for forms and the admin."""
    try:
        check_url(value, field="url", label="The URL")
    except ServiceError as exc:
        raise ValidationError(exc.message, code="egress") from None
