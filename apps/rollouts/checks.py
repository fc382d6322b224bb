"""Verification checks: read a URL, judge what came back. Judging is pure; fetching is I/O."""

import json
import math
import urllib.parse
from dataclasses import dataclass
from typing import Any

from apps.core import egress
from apps.core.errors import ServiceError

OPERATORS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}
MAX_BODY = 1024 * 1024
MAX_VERSION = 100


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: str  # what was seen, as text, so every decision keeps its evidence
    detail: str


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no answer at all
    body: bytes
    error: str = ""


def validate_config(kind: str, config: Any) -> dict[str, Any]:
    """Shape checks for a check's configuration; raises ServiceError naming the field."""
    if not isinstance(config, dict):
        raise ServiceError("config must be an object.", field="config")
    if kind == "manual":
        return {}
    url = egress.check_url(config.get("url"), field="config", label="config.url")
    if kind == "http":
        status = config.get("expect_status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ServiceError("config.expect_status must be an HTTP status.", field="config")
        return {
            "url": url,
            "expect_status": status,
            "expect_version": str(config.get("expect_version") or ""),
            "version_field": str(config.get("version_field") or ""),
        }
    if kind == "metric":
        source = config.get("source", "json")
        if source not in ("json", "prometheus"):
            raise ServiceError("config.source must be json or prometheus.", field="config")
        operator = config.get("operator", "<=")
        if operator not in OPERATORS:
            raise ServiceError(
                f"config.operator must be one of {', '.join(OPERATORS)}.", field="config"
            )
        threshold = config.get("threshold")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise ServiceError("config.threshold must be a number.", field="config")
        field = config.get("field", "")
        query = config.get("query", "")
        if source == "json" and not (isinstance(field, str) and field):
            raise ServiceError("config.field names the number in the JSON answer.", field="config")
        if source == "prometheus" and not (isinstance(query, str) and query):
            raise ServiceError("config.query is the PromQL to ask.", field="config")
        return {
            "url": url,
            "source": source,
            "field": field,
            "query": query,
            "operator": operator,
            "threshold": threshold,
        }
    raise ServiceError("kind must be http, metric or manual.", field="kind")


def dig(document: Any, path: str) -> Any:
    """`a.b.0.c` into nested JSON; KeyError when the path is not there."""
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def judge_http(config: dict[str, Any], response: Response) -> Outcome:
    if response.status is None:
        return Outcome(False, "no answer", response.error)
    if response.status != config["expect_status"]:
        return Outcome(False, str(response.status), f"expected HTTP {config['expect_status']}")
    expected = config.get("expect_version")
    if expected:
        if config.get("version_field"):
            try:
                found = dig(json.loads(response.body), config["version_field"])
            except (ValueError, KeyError):
                found = None
            # Only a plain value is compared, and only that is kept: never a part of the body.
            if isinstance(found, bool) or not isinstance(found, str | int | float):
                return Outcome(
                    False, "no version", f"no {config['version_field']} in the JSON body"
                )
            seen = str(found)[:MAX_VERSION]
            if seen != expected:
                return Outcome(False, seen, f"expected version {expected}")
            return Outcome(True, seen, f"HTTP {response.status}, version {seen}")
        if expected.encode() not in response.body:
            return Outcome(False, str(response.status), f"version {expected} not in the body")
    return Outcome(True, str(response.status), f"HTTP {response.status}")


class Unreadable(ValueError):
    """The answer holds no number to compare; the message is ours, never the answer's text."""


def _metric_value(config: dict[str, Any], body: bytes) -> float:
    try:
        document = json.loads(body)
    except ValueError:
        raise Unreadable("the answer is not JSON") from None
    if config["source"] == "prometheus":
        # /api/v1/query answers {"status":"success","data":{"result":[{"value":[ts,"1.5"]}]}}
        if not isinstance(document, dict) or document.get("status") != "success":
            raise Unreadable("Prometheus answered an error")
        try:
            result = document["data"]["result"]
            raw = result[0]["value"][1] if result else None
        except (KeyError, IndexError, TypeError):
            raise Unreadable("not a Prometheus query answer") from None
        if not result:
            raise Unreadable("the query returned no series")
    else:
        try:
            raw = dig(document, config["field"])
        except KeyError:
            raise Unreadable(f"no {config['field']} in the JSON answer") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise Unreadable("not a number")
    try:
        value = float(raw)
    except ValueError:
        raise Unreadable("not a number") from None
    if not math.isfinite(value):
        raise Unreadable("not a finite number")
    return value


def judge_metric(config: dict[str, Any], response: Response) -> Outcome:
    if response.status is None:
        return Outcome(False, "no answer", response.error)
    if response.status != 200:
        return Outcome(False, f"HTTP {response.status}", "the metrics source did not answer 200")
    try:
        value = _metric_value(config, response.body)
    except Unreadable as exc:
        return Outcome(False, "no value", f"could not read the number: {exc}")
    ok = OPERATORS[config["operator"]](value, config["threshold"])
    verdict = "within" if ok else "breaches"
    return Outcome(
        ok, f"{value:g}", f"{value:g} {verdict} {config['operator']} {config['threshold']:g}"
    )


def metric_url(config: dict[str, Any]) -> str:
    if config["source"] == "prometheus":
        base = config["url"].rstrip("/")
        return f"{base}/api/v1/query?{urllib.parse.urlencode({'query': config['query']})}"
    return config["url"]


def fetch(url: str, *, timeout: float) -> Response:
    """GET `url` through the egress checks; never raises for network trouble, it is a failed
    check, not a crash. The body is only judged, never stored."""
    answer = egress.request(
        url, headers={"Accept": "application/json"}, timeout=timeout, max_bytes=MAX_BODY
    )
    return Response(answer.status, answer.body, answer.error)


def run(kind: str, config: dict[str, Any], *, timeout: float = 5.0) -> Outcome:
    if kind == "http":
        return judge_http(config, fetch(config["url"], timeout=timeout))
    if kind == "metric":
        return judge_metric(config, fetch(metric_url(config), timeout=timeout))
    raise ValueError(f"{kind} checks are judged by an operator")
