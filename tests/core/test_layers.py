"""How the code layers, read from its imports: the engine's modules form no circle, lower apps
do not reach up into higher ones, and no module goes around the framework's public API."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"


def modules(app: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((APPS / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(APPS.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imports(module: str, path: Path) -> Iterator[tuple[str, ast.AST, bool]]:
    """(imported module, node, inside a function) for each import of `path`."""
    tree = ast.parse(path.read_text())
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    in_function = {
        id(node)
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(func)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node, id(node) in in_function
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            yield target, node, id(node) in in_function
            for alias in node.names:  # `from . import queue` names a module
                yield f"{target}.{alias.name}", node, id(node) in in_function


def test_the_engine_modules_form_no_circle():
    names = dict(modules("rollouts"))
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        for target, _, lazy in imports(name, path):
            # A Celery task body imports the code it runs: the thin-task pattern, not a layer.
            if lazy and name == "apps.rollouts.tasks":
                continue
            if target in names and target != name and target != "apps.rollouts":
                graph[name].add(target)
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in trail:
                circles.append([*trail[trail.index(nxt) :], nxt])
            elif len(trail) < len(graph):
                visit(nxt, [*trail, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert circles == []


def test_only_the_queue_imports_the_engine_tasks():
    importers = {
        name
        for name, path in modules("rollouts")
        for target, _, _ in imports(name, path)
        if target in ("apps.rollouts.tasks", "apps.rollouts.tasks.wave_step")
        or (target.startswith("apps.rollouts.tasks.") and name != "apps.rollouts.tasks")
    }
    assert importers == {"apps.rollouts.queue"}


@pytest.mark.parametrize("app", ["environments"])
def test_lower_apps_do_not_import_the_rollout_engine(app):
    reaching_up = [
        f"{name}:{node.lineno}"
        for name, path in modules(app)
        for target, node, _ in imports(name, path)
        if target.startswith("apps.rollouts")
    ]
    assert reaching_up == []


def test_the_audit_chain_imports_no_domain_app():
    (path,) = [p for name, p in modules("audit") if name == "apps.audit.chain"]
    targets = {t for t, _, _ in imports("apps.audit.chain", path) if t.startswith("apps.")}
    assert {t for t in targets if not t.startswith(("apps.audit", "apps.core"))} == set()


AMBIENT_OR_PRIVATE = [
    r"\bContextVar\b",
    r"savepoint_ids",
    r"\bengine\._",
    r"\._revision_bumped\b",
    r"\bchecks_read\b",
]


@pytest.mark.parametrize("pattern", AMBIENT_OR_PRIVATE)
def test_no_hidden_state_or_private_calls(pattern):
    found = [
        f"{path.relative_to(APPS.parent)}:{n}"
        for path in sorted(APPS.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(pattern, line)
    ]
    assert found == []
