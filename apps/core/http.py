"""Outbound HTTP POSTs (deploy calls, notification webhooks): never raising for network trouble."""

import urllib.error
import urllib.request


def post_json(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float
) -> tuple[int | None, str]:
    """POST and return (status, error text); status None when nothing answered."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - validated URL
            answer.read(65536)
            return answer.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
