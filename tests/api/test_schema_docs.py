"""Every operation of the served OpenAPI schema has a summary and a description of its own:
none missing, none shared with another operation, none borrowed from a base class's docstring."""

import inspect
from collections import Counter
from typing import Any

import pytest
from rest_framework import generics, views

from apps.core import api as core_api

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


def _framework_docstrings() -> set[str]:
    """Docstrings an operation would inherit from a mixin or DRF base class."""
    classes = [core_api.ApiMixin, core_api.ApiView, views.APIView]
    classes += [c for c in vars(generics).values() if inspect.isclass(c)]
    return {" ".join(inspect.getdoc(c).split()) for c in classes if inspect.getdoc(c)}


@pytest.fixture(scope="module")
def operations(api_schema: Any) -> list[tuple[str, dict]]:
    raw = api_schema.raw_schema
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in raw["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_has_a_summary_and_a_description(operations) -> None:
    missing = [
        name
        for name, operation in operations
        if not operation.get("summary", "").strip() or not operation.get("description", "").strip()
    ]

    assert len(operations) > 90
    assert missing == []


def test_no_operation_is_described_by_a_base_class_docstring(operations) -> None:
    borrowed = _framework_docstrings()
    assert any("write_actions" in doc for doc in borrowed)  # the mixin's own docstring

    leaked = [
        name
        for name, operation in operations
        if " ".join(operation.get("description", "").split()) in borrowed
        or "write_actions" in operation.get("description", "")
    ]

    assert leaked == []


@pytest.mark.parametrize("key", ["summary", "description"])
def test_summaries_and_descriptions_are_each_operations_own(operations, key: str) -> None:
    counts = Counter(" ".join(operation.get(key, "").split()) for _, operation in operations)
    shared = sorted(
        name
        for name, operation in operations
        if counts[" ".join(operation.get(key, "").split())] > 1
    )

    assert shared == []
