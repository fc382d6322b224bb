"""Verification checks: read a URL, judge what came back. Judging is pure; fetching is I/O."""

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from apps.core.errors import ServiceError

OPERATORS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}
MAX_BODY = 1024 * 1024


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
    url = config.get("url")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ServiceError("config.url must be an http(s) URL.", field="config")
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
                seen = str(dig(json.loads(response.body), config["version_field"]))
            except (ValueError, KeyError):
                return Outcome(
                    False, "no version", f"no {config['version_field']} in the JSON body"
                )
            if seen != expected:
                return Outcome(False, seen, f"expected version {expected}")
            return Outcome(True, seen, f"HTTP {response.status}, version {seen}")
        if expected.encode() not in response.body:
            return Outcome(False, str(response.status), f"version {expected} not in the body")
    return Outcome(True, str(response.status), f"HTTP {response.status}")


def _metric_value(config: dict[str, Any], body: bytes) -> float:
    document = json.loads(body)
    if config["source"] == "prometheus":
        # /api/v1/query answers {"status":"success","data":{"result":[{"value":[ts,"1.5"]}]}}
        if document.get("status") != "success":
            raise ValueError("Prometheus answered an error")
        result = document["data"]["result"]
        if not result:
            raise ValueError("the query returned no series")
        raw = result[0]["value"][1]
    else:
        raw = dig(document, config["field"])
    if isinstance(raw, bool):
        raise ValueError("not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def judge_metric(config: dict[str, Any], response: Response) -> Outcome:
    if response.status is None:
        return Outcome(False, "no answer", response.error)
    if response.status != 200:
        return Outcome(False, f"HTTP {response.status}", "the metrics source did not answer 200")
    try:
        value = _metric_value(config, response.body)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
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
    """GET `url`; never raises for network trouble, it is a failed check, not a crash."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) only, validated
            return Response(answer.status, answer.read(MAX_BODY))
    except urllib.error.HTTPError as exc:
        return Response(exc.code, exc.read(MAX_BODY) if exc.fp else b"")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return Response(None, b"", f"{type(exc).__name__}: {exc}")


def run(kind: str, config: dict[str, Any], *, timeout: float = 5.0) -> Outcome:
    if kind == "http":
        return judge_http(config, fetch(config["url"], timeout=timeout))
    if kind == "metric":
        return judge_metric(config, fetch(metric_url(config), timeout=timeout))
    raise ValueError(f"{kind} checks are judged by an operator")
