"""docker-compose.yml and its Dockerfile, checked without a Docker engine: every module, command
and setting they name exists in the project, and the processes they describe load."""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from celery.app.utils import find_app
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat")
DOCKERFILE = ROOT / "Dockerfile"


def _interpolate(value: str) -> str:
    """Compose's ${NAME:-default} and ${NAME:?error}, as on a host that sets only SECRET_KEY."""

    def replace(match: re.Match) -> str:
        name, operator, rest = match[1], match[2] or "", match[3] or ""
        if name == "SECRET_KEY":
            return "a-long-random-secret-for-this-test-only-0123456789"
        if operator == ":?":
            raise AssertionError(f"compose demands {name}: {rest}")
        return rest if operator == ":-" else ""

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(:-|:\?)?([^}]*)\}", replace, str(value))


def _environment(service: str) -> dict[str, str]:
    return {k: _interpolate(v) for k, v in SERVICES[service]["environment"].items()}


def _command(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return command if isinstance(command, list) else command.split()


def _run_in(service: str, argv: list[str]) -> subprocess.CompletedProcess:
    """Run argv with the service's environment, the way its container would."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update(_environment(service))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_compose_has_web_worker_beat_postgres_and_redis():
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(SERVICES)


def test_stores_run_postgres_15_and_redis_7():
    assert SERVICES["postgres"]["image"].startswith("postgres:15")
    assert SERVICES["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("service", ["postgres", "redis", "web"])
def test_service_has_a_healthcheck(service):
    healthcheck = SERVICES[service]["healthcheck"]
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")
    assert len(healthcheck["test"]) > 1


def test_web_healthcheck_asks_a_page_that_exists():
    test = " ".join(SERVICES["web"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/\S*?)'", test)[1]
    resolve(path)  # raises Resolver404 if the page is gone


def test_every_dependency_waits_for_a_condition_its_target_can_meet():
    for name, service in SERVICES.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends_on.items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in ("service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{target} has no healthcheck"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_service_starts_after_healthy_stores_and_migrations(service):
    depends_on = SERVICES[service]["depends_on"]
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_migrate_step_runs_the_migrate_command():
    argv = _command("migrate")
    assert argv[:3] == ["python", "manage.py", "migrate"]
    assert "migrate" in get_commands()
    assert SERVICES["migrate"]["restart"] == "no"


@pytest.mark.parametrize("service", ("migrate", *APP_SERVICES))
def test_app_service_uses_production_settings_and_its_stores_from_the_environment(service):
    env = _environment(service)
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert importlib.util.find_spec(env["DJANGO_SETTINGS_MODULE"]) is not None
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert env["SECRET_KEY"]
    assert "${SECRET_KEY:?" in SERVICES[service]["environment"]["SECRET_KEY"]  # no default secret


def test_web_runs_gunicorn_on_the_project_wsgi_application():
    argv = _command("web")
    assert argv[0] == "gunicorn"
    module, _, attribute = argv[1].partition(":")
    assert module == "config.wsgi"
    assert callable(getattr(importlib.import_module(module), attribute or "application"))


def test_web_command_loads_under_the_compose_environment():
    argv = _command("web")
    result = _run_in("web", [sys.executable, "-m", "gunicorn", "--check-config", *argv[1:]])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("service", "subcommand"), [("worker", "worker"), ("beat", "beat")])
def test_celery_service_names_the_project_app(service, subcommand):
    argv = _command(service)
    assert argv[0] == "celery"
    app_name = argv[argv.index("-A") + 1]
    assert find_app(app_name).main == "releasedeck"
    assert argv[argv.index("-A") + 2] == subcommand


def test_worker_under_the_compose_environment_knows_every_task_beat_sends():
    script = (
        "from celery.app.utils import find_app; from django.conf import settings; "
        "app = find_app('config'); app.loader.import_default_modules(); "
        "missing = [e['task'] for e in settings.CELERY_BEAT_SCHEDULE.values() "
        "if e['task'] not in app.tasks]; "
        "assert settings.CELERY_BROKER_URL.startswith('redis://redis:'), settings.CELERY_BROKER_URL; "
        "assert not missing, missing; print('ok')"
    )
    result = _run_in("worker", [sys.executable, "-c", script])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("service", ("migrate", *APP_SERVICES))
def test_app_service_builds_from_the_project_dockerfile(service):
    build = SERVICES[service]["build"]
    context, dockerfile = (
        (build, "Dockerfile")
        if isinstance(build, str)
        else (
            build["context"],
            build.get("dockerfile", "Dockerfile"),
        )
    )
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE.resolve()
    assert DOCKERFILE.is_file()


def test_dockerfile_builds_on_python_311_slim_and_installs_the_project():
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [args for op, args in instructions if op == "RUN"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs)
    copied = [args.split()[0] for op, args in instructions if op == "COPY"]
    assert "pyproject.toml" in copied and "." in copied


def test_dockerfile_collectstatic_step_runs_with_the_environment_it_sets():
    runs = [args for op, args in _dockerfile_instructions() if op == "RUN"]
    step = next(run for run in runs if "collectstatic" in run)
    assert "collectstatic" in get_commands()
    env = dict(re.findall(r"([A-Z_]+)=(\S+)", step.split("python", 1)[0]))
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--dry-run"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
