"""Settings: production refuses to start half-configured, debug is off outside local, and the
local settings need nothing from the environment. Each case loads settings in a fresh process."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DIR = ROOT / "config" / "settings"
PRODUCTION_ENV = {
    "SECRET_KEY": "a-long-random-secret-for-this-test-only-0123456789",
    "DATABASE_URL": "postgres://releasedeck@db.invalid:5432/releasedeck",
    "REDIS_URL": "redis://redis.invalid:6379/0",
}


def _environment_names() -> set[str]:
    """Every variable the settings read: os.environ.get("X"), env_bool("X"), variable="X" ..."""
    pattern = re.compile(
        r"""(?:environ\.get\(|environ\[|env_bool\(|env_list\(|env_seconds\(|"""
        r"""variable(?::\s*str)?\s*=)"""
        r"""\s*["']([A-Z][A-Z0-9_]*)["']"""
    )
    names: set[str] = set()
    for path in SETTINGS_DIR.glob("*.py"):
        names |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return names


def _load(module: str, env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    """Set up Django with `module` and only `env` on top of a clean shell; print `expression`."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in _environment_names() and k != "DJANGO_SETTINGS_MODULE"
    }
    clean.update(env, DJANGO_SETTINGS_MODULE=module)
    script = (
        "import django; django.setup(); from django.conf import settings; "
        f"print(repr({expression}))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _value(result: subprocess.CompletedProcess) -> object:
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_production_settings_refuse_to_load_without(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _load("config.settings.production", env, "settings.DEBUG")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} " in result.stderr


def test_production_settings_take_a_celery_broker_url_instead_of_redis_url():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "REDIS_URL"}
    env["CELERY_BROKER_URL"] = "redis://broker.invalid:6379/1"
    result = _load("config.settings.production", env, "settings.CELERY_BROKER_URL")
    assert _value(result) == "redis://broker.invalid:6379/1"


def test_production_settings_load_with_secret_database_and_redis():
    result = _load(
        "config.settings.production",
        PRODUCTION_ENV,
        "(settings.DATABASES['default']['HOST'], settings.CELERY_BROKER_URL, "
        "settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)",
    )
    assert _value(result) == ("db.invalid", PRODUCTION_ENV["REDIS_URL"], True, True)


@pytest.mark.parametrize(
    ("module", "env", "debug"),
    [
        ("config.settings.base", {"SECRET_KEY": "x" * 50}, False),
        ("config.settings.test", {}, False),
        ("config.settings.production", PRODUCTION_ENV, False),
        ("config.settings.production", {**PRODUCTION_ENV, "DEBUG": "true"}, False),
        ("config.settings.local", {}, True),
        ("config.settings.local", {"DEBUG": "false"}, False),
    ],
    ids=["base", "test", "production", "production-despite-DEBUG", "local", "local-DEBUG-false"],
)
def test_debug_is_off_unless_local(module, env, debug):
    assert _value(_load(module, env, "settings.DEBUG")) is debug


def test_local_settings_need_nothing_from_the_environment():
    result = _load(
        "config.settings.local",
        {},
        "(bool(settings.SECRET_KEY), settings.DATABASES['default']['ENGINE'], "
        "str(settings.DATABASES['default']['NAME']), settings.CELERY_BROKER_URL, "
        "sorted(str(v) for k, v in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items() "
        "if k.endswith('folder') or k.startswith('data_folder')), "
        "str(settings.CELERY_BEAT_SCHEDULE_FILENAME))",
    )
    has_secret, engine, name, broker, folders, schedule = _value(result)
    var = ROOT / "var"
    assert has_secret
    assert engine == "django.db.backends.sqlite3"
    assert Path(name) == var / "releasedeck.sqlite3"
    assert broker.startswith("filesystem://")
    # Every broker folder (including kombu's control folder) lives under var/, never the cwd.
    assert len(folders) == 3
    assert all(Path(f).is_relative_to(var / "broker") for f in folders)
    assert Path(schedule).is_relative_to(var)


def test_releasedeck_var_dir_moves_every_local_file(tmp_path):
    result = _load(
        "config.settings.local",
        {"RELEASEDECK_VAR_DIR": str(tmp_path)},
        "[str(settings.DATABASES['default']['NAME']), str(settings.EMAIL_FILE_PATH), "
        "str(settings.CELERY_BEAT_SCHEDULE_FILENAME), "
        "*map(str, settings.CELERY_BROKER_TRANSPORT_OPTIONS.values())]",
    )
    paths = [p for p in _value(result) if isinstance(p, str) and p.startswith("/")]
    assert len(paths) >= 6
    assert all(Path(p).is_relative_to(tmp_path) for p in paths)


def test_readme_documents_every_variable_the_settings_read():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(name for name in _environment_names() if f"`{name}`" not in readme)
    assert not missing, f"README.md does not document {missing}"


def test_readme_links_only_to_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images
    named = re.findall(r"`((?:config|apps|tests)/[\w/.]+\.py)`", readme)
    missing = [p for p in [*images, *named] if not (ROOT / p).is_file()]
    assert not missing, f"README.md names files that do not exist: {missing}"


def test_readme_names_only_management_commands_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"manage\.py (\w+)", readme))
    assert {"rundemo", "seed_demo", "create_api_token", "audit_verify"} <= named
    assert named <= set(get_commands())


def test_production_redirects_to_https_and_sends_hsts_by_default():
    result = _load(
        "config.settings.production",
        PRODUCTION_ENV,
        "(settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, "
        "settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD)",
    )
    assert _value(result) == (True, 31536000, False, False)


def test_production_https_settings_come_from_the_environment():
    env = {
        **PRODUCTION_ENV,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    result = _load(
        "config.settings.production",
        env,
        "(settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, "
        "settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD)",
    )
    assert _value(result) == (False, 600, True, True)


def test_production_refuses_hsts_seconds_that_are_not_a_number():
    result = _load(
        "config.settings.production",
        {**PRODUCTION_ENV, "SECURE_HSTS_SECONDS": "a year"},
        "settings.SECURE_HSTS_SECONDS",
    )
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS must be a whole number" in result.stderr


def test_production_answers_plain_http_with_a_redirect_and_https_with_hsts():
    """Through Django's own request handling, with the production settings as loaded."""
    result = _load(
        "config.settings.production",
        PRODUCTION_ENV,
        "(lambda c: ("
        "(lambda r: (r.status_code, r['Location']))(c.get('/api/v1/none/', HTTP_HOST='localhost')), "
        "(lambda r: (r.status_code, r.get('Strict-Transport-Security')))("
        "c.get('/api/v1/none/', HTTP_HOST='localhost', HTTP_X_FORWARDED_PROTO='https'))"
        "))(__import__('django.test', fromlist=['Client']).Client(raise_request_exception=False))",
    )
    plain, secure = _value(result)
    assert plain == (301, "https://localhost/api/v1/none/")
    assert secure == (404, "max-age=31536000")
