"""How the code layers, read from its imports: the engine's modules form no circle, lower apps
do not reach up into higher ones, and no module goes around the framework's public API."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

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


# The apps, lowest first, as settings list them.
OURS = [app.removeprefix("apps.") for app in settings.INSTALLED_APPS if app.startswith("apps.")]


def _app_of(target: str) -> str | None:
    parts = target.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apps" and parts[1] in OURS else None


def _every_import() -> Iterator[tuple[str, str, ast.AST, bool]]:
    for app in OURS:
        for name, path in modules(app):
            for target, node, lazy in imports(name, path):
                # A Celery task body imports the code it runs: the thin-task pattern, not a layer.
                if lazy and name.split(".")[-1] == "tasks":
                    continue
                yield name, target, node, lazy


def test_the_settings_list_every_app_once():
    on_disk = sorted(p.parent.name for p in APPS.glob("*/apps.py"))
    assert sorted(OURS) == on_disk


def test_no_module_of_ours_imports_one_that_imports_it():
    names = {name for app in OURS for name, _ in modules(app)}
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, target, _, _ in _every_import():
        while target and target not in names:  # `from apps.x import y` runs apps.x
            target = target.rpartition(".")[0]
        if target and target != name:
            graph[name].add(target)
    # Tarjan's strongly connected components: any with more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_apps_import_only_the_apps_below_them():
    """Every module of an app, its pages and API included, imports only apps listed before it;
    lazy imports count too. A lower app tells a higher one something through a signal or a
    hook the higher app registers in ready(); a page that shows several apps lives in
    apps.pages, above them all."""
    reaching_up = []
    for name, target, node, _ in _every_import():
        app, used = name.split(".")[1], _app_of(target)
        if used is None or OURS.index(used) <= OURS.index(app):
            continue
        reaching_up.append(f"{name}:{node.lineno} -> {target}")
    assert reaching_up == []


def test_core_imports_no_app_of_ours():
    assert [
        f"{name}:{node.lineno}"
        for name, target, node, _ in _every_import()
        if name.startswith("apps.core") and _app_of(target) not in (None, "core")
    ] == []
