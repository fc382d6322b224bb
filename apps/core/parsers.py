"""The API's JSON parser. Kept apart from apps.core.api: DRF imports it while it is itself
being imported (DEFAULT_PARSER_CLASSES), so this module must not import DRF views."""

from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# Deeper than any body the API takes; the error walkers and serializers recurse over the data.
MAX_JSON_DEPTH = 32


def _too_deep(data: Any, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in node)
    return False


class JsonParser(JSONParser):
    """DRF's JSON parser, refusing nesting deeper than `MAX_JSON_DEPTH` with a 400 (the standard
    decoder would hit Python's recursion limit on a few kilobytes of brackets)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        message = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(message) from None
        if _too_deep(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError(message)
        return data
