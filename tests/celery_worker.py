"""A real Celery worker for tests that need one.

One worker process serves the whole test session. It runs against the pytest-django test
database and the Redis db the test process publishes to, so tests using it must commit
(`@pytest.mark.django_db(transaction=True)`) for the worker to see their rows.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Where kombu's Redis transport keeps delivered-but-unacknowledged messages; a worker
# restores them on start, so a purge has to clear them too.
_UNACKED_KEYS = ("unacked", "unacked_index", "unacked_mutex")


class CeleryWorker:
    """A running worker process and its log."""

    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self, since: int = 0) -> str:
        with self.log_path.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Warm shutdown, then kill whatever of its process group is left."""
        pgid = self.process.pid  # started in its own session: group id == pid
        if self.is_alive():
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        # Pool children outliving the main process would keep database connections open.
        _signal_group(pgid, signal.SIGKILL)


def _die_with_parent() -> None:
    """In the worker before exec: stop it if the test process dies without tearing down."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(db['NAME'], safe='')}"


def purge_celery_queue() -> None:
    """Drop every message waiting in the test broker, delivered or not."""
    import redis

    from config.celery import app

    app.control.purge()
    redis.Redis.from_url(settings.REDIS_URL).delete(*_UNACKED_KEYS)


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    """Poll until `predicate` returns something truthy; return it, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="session")
def celery_worker_env() -> dict[str, str]:
    """Environment variables the worker gets beyond the test process's own (settings that name
    servers started for the session)."""
    return {}


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None,
    tmp_path_factory: pytest.TempPathFactory,
    celery_worker_env: dict[str, str],
) -> Iterator[CeleryWorker]:
    purge_celery_queue()
    env = dict(os.environ)
    # The test settings read DATABASE_URL before TEST_DATABASE_URL; the worker must use the test db.
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        TEST_DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(celery_worker_env)
    log_path = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "-c",
                "1",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-n",
                "test@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    worker = CeleryWorker(process, log_path)
    try:
        ready = wait_for(
            lambda: " ready." in worker.log() or not worker.is_alive(),
            timeout=READY_TIMEOUT,
            interval=0.2,
        )
        if not ready or not worker.is_alive():
            pytest.fail(f"Celery worker did not become ready. Its log:\n{worker.log()}")
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def celery_worker(
    celery_worker_process: CeleryWorker, request: pytest.FixtureRequest
) -> CeleryWorker:
    """The session's worker, checked alive; remembers where this test's part of its log starts."""
    if not celery_worker_process.is_alive():
        pytest.fail(f"The Celery worker died. Its log:\n{celery_worker_process.log()}")
    request.node.celery_log_start = celery_worker_process.log_size()
    return celery_worker_process


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    worker = getattr(item, "funcargs", {}).get("celery_worker")
    if report.failed and isinstance(worker, CeleryWorker):
        since = getattr(item, "celery_log_start", 0)
        report.sections.append(("Celery worker log", worker.log(since)))
    return report
