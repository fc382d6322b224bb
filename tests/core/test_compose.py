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


@pytest.mark.parametrize("service", [*APP_SERVICES, "postgres", "redis"])
def test_a_process_that_dies_is_started_again(service):
    assert SERVICES[service]["restart"] in ("unless-stopped", "always")


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


# ---- Database roles: migrations as the owner, the processes as a role that owns nothing ----

INIT_SCRIPT = "deploy/postgres/10-app-role.sh"


def _db_user(url: str) -> str:
    return re.match(r"postgres://([^:@]+)", url)[1]


def test_processes_connect_as_a_role_other_than_the_one_that_migrates():
    owner = _db_user(_environment("migrate")["DATABASE_URL"])
    assert owner == _interpolate(SERVICES["postgres"]["environment"]["POSTGRES_USER"])
    for service in APP_SERVICES:
        assert _db_user(_environment(service)["DATABASE_URL"]) == "releasedeck_app" != owner


def test_postgres_creates_the_application_role_when_the_database_is_created():
    mounts = [_interpolate(v).split(":") for v in SERVICES["postgres"]["volumes"]]
    assert [f"./{INIT_SCRIPT}", "/docker-entrypoint-initdb.d/10-app-role.sh", "ro"] in mounts
    assert "RELEASEDECK_APP_DB_PASSWORD" in SERVICES["postgres"]["environment"]


@pytest.fixture
def scratch_cluster_roles():
    """A scratch database owned by a stand-in for POSTGRES_USER, on the tests' server."""
    import psycopg

    server = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x")
    admin_url = server.rsplit("/", 1)[0] + "/postgres"
    db, owner = f"rd_compose_{os.getpid()}", f"rd_compose_owner_{os.getpid()}"

    def drop(conn):
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute("DROP ROLE IF EXISTS releasedeck_app")
        conn.execute(f"DROP ROLE IF EXISTS {owner}")

    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'releasedeck_app'").fetchone():
            pytest.skip("a role releasedeck_app already exists on the tests' server")
        drop(conn)
        conn.execute(f"CREATE ROLE {owner} LOGIN SUPERUSER")  # as the postgres image makes it
        conn.execute(f"CREATE DATABASE {db} OWNER {owner}")
        try:
            yield server.rsplit("/", 1)[0], db, owner
        finally:
            drop(conn)


def test_application_role_cannot_switch_off_or_empty_the_audit_trail(scratch_cluster_roles):
    """The init script and the migrations for real: the role web, worker and beat use reads and
    writes rows but cannot truncate, delete from or disable the triggers of the audit table."""
    import psycopg

    base, db, owner = scratch_cluster_roles
    host = re.match(r"postgres://(?:[^@]*@)?([^:/]+)(?::(\d+))?", base)
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": host[1],
        "PGPORT": host[2] or "5432",
        "POSTGRES_USER": owner,
        "POSTGRES_DB": db,
        "RELEASEDECK_APP_DB_PASSWORD": "app-secret",
    }
    init = subprocess.run(["sh", INIT_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    owner_url = f"{base.replace('postgres@', f'{owner}@')}/{db}"
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": owner_url,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr

    app_url = f"postgresql://releasedeck_app:app-secret@{host[1]}:{host[2] or 5432}/{db}"
    with psycopg.connect(app_url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        assert conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'audit_auditevent'"
        ).fetchone() == (owner,)
        conn.execute("INSERT INTO auth_group (name) VALUES ('probe')")  # ordinary rows: yes
        conn.execute("DELETE FROM auth_group WHERE name = 'probe'")
        conn.execute(  # appending is what it may do to the audit trail
            "INSERT INTO audit_auditevent (at, actor_label, verb, object_type, object_id, reason,"
            " prev_hash, hash) VALUES (now(), 'system', 'probe', '', '', '', '', 'probe')"
        )
        for sql, error in [
            ("TRUNCATE audit_auditevent", "permission denied"),
            ("DELETE FROM audit_auditevent", "append-only"),
            ("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL", "must be owner"),
            ("DROP TRIGGER audit_event_append_only ON audit_auditevent", "must be owner"),
            ("SET session_replication_role = replica", "permission denied"),
        ]:
            with pytest.raises(psycopg.Error, match=error):
                conn.execute(sql)
