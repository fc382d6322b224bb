"""A real web server for the command line to talk to: gunicorn on a loopback port, serving the
pytest-django test database, as the Celery worker of tests/celery_worker.py does."""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.celery_worker import _die_with_parent, _test_database_url, wait_for


class WebServer:
    def __init__(self, process: subprocess.Popen, url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> bool:
        try:
            httpx.get(f"{self.url}/api/v1/me/", timeout=1.0)
        except httpx.HTTPError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def web_server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        TEST_DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        # Deploy requests carry report URLs on this server.
        RELEASEDECK_PUBLIC_URL=url,
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--graceful-timeout",
                "5",
                # One control socket per user by default: test runs side by side would share it.
                "--no-control-socket",
                "--access-logfile",
                "-",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    server = WebServer(process, url, log_path)
    try:
        if not wait_for(lambda: server.answers() or process.poll() is not None, timeout=30):
            pytest.fail(f"gunicorn did not start. Its log:\n{server.log()}")
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited. Its log:\n{server.log()}")
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Graceful stop, then kill what is left of its process group (gunicorn's worker)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            continue
