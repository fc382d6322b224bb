"""Processes a fault-injection run owns outright, so it can kill them: a private redis-server,
a Celery worker and celery beat, plus a deploy tool on loopback that reports back on its own.

Every process starts in its own session (its process group id is its pid) and dies with the
process that started it, so neither a failed test nor Ctrl-C leaves one behind.
"""

import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
BASE_DIR = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    """Poll until `predicate` returns something truthy; return it, or the last falsy value."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def _die_with_parent() -> None:
    # Runs in the child before exec. The signal fires when the thread that started the child
    # ends, so children are only ever started from the main thread.
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class OwnedProcess:
    """A command run in its own process group, logging to a file, restartable after a kill."""

    def __init__(
        self, argv: list[str], *, env: dict[str, str], log_path: Path, ready_text: str = ""
    ) -> None:
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.ready_text = ready_text
        self.process: subprocess.Popen | None = None
        self.started_at_offset = 0
        self.starts = 0

    def start(self) -> None:
        assert not self.is_alive(), "already running"
        self.started_at_offset = self.log_size()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.starts += 1

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        if not self.ready_text:
            return
        ready = wait_until(
            lambda: self.ready_text in self.log(self.started_at_offset) or not self.is_alive(),
            timeout=timeout,
            interval=0.05,
        )
        if not ready or not self.is_alive():
            raise RuntimeError(f"{self.argv[:4]} did not become ready:\n{self.log()[-4000:]}")

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once: no warm shutdown, no acknowledgements."""
        if self.process is None:
            return
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """Polite shutdown, then kill whatever of the group is left (pool children included)."""
        if self.process is None:
            return
        pgid = self.process.pid
        if self.is_alive():
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(pgid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def log(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0


class RedisServer(OwnedProcess):
    """redis-server on loopback keeping nothing on disk: a restart loses every queued message."""

    def __init__(self, port: int, log_path: Path) -> None:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        super().__init__(argv, env=dict(os.environ), log_path=log_path)
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        if not wait_until(self.ping, timeout=timeout, interval=0.05):
            raise RuntimeError(f"redis-server did not answer:\n{self.log()[-2000:]}")

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def queued_tasks(self, queue_name: str = "celery") -> list[tuple[str, str]]:
        """(task name, args repr) of every message waiting in the queue."""
        messages = [json.loads(m) for m in self.client().lrange(queue_name, 0, -1)]
        return [(m["headers"]["task"], m["headers"].get("argsrepr", "")) for m in messages]


def database_url() -> str:
    """The URL of the database Django is using now (the test database under pytest)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(db['NAME'], safe='')}"


def celery_env(*, db_url: str, redis_url: str, tick_seconds: float) -> dict[str, str]:
    env = dict(os.environ)
    # The test settings read TEST_DATABASE_URL; anything pointing elsewhere must go.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        TEST_DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        RELEASEDECK_TICK_SECONDS=str(tick_seconds),
        PYTHONUNBUFFERED="1",
    )
    return env


def celery_worker(
    env: dict[str, str], log_path: Path, *, app: str = "config", concurrency: int = 2
) -> OwnedProcess:
    argv = [sys.executable, "-m", "celery", "-A", app, "worker", "-l", "info"]
    argv += ["-P", "prefork", "-c", str(concurrency), "-n", f"faults-{os.getpid()}@%h"]
    argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    return OwnedProcess(argv, env=env, log_path=log_path, ready_text=" ready.")


def celery_beat(env: dict[str, str], log_path: Path, schedule_path: Path) -> OwnedProcess:
    argv = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info"]
    argv += ["-s", str(schedule_path), "--max-interval", "1"]
    return OwnedProcess(argv, env=env, log_path=log_path, ready_text="beat: Starting")


def interrupted_tasks(worker_log: str) -> list[str]:
    """Tasks the log shows received but never finished: what a kill cut off mid-step."""
    received, finished = {}, set()
    for line in worker_log.splitlines():
        if "] received" in line and "Task " in line:
            name_id = line.split("Task ", 1)[1].split(" received", 1)[0]
            received[name_id.split("[", 1)[1].rstrip("]")] = name_id
        elif any(end in line for end in ("] succeeded in", "] raised", "] retry", "revoked task")):
            task = line.rsplit("[", 1)[-1].split("]", 1)[0]
            finished.add(task)
    return [name for task_id, name in received.items() if task_id not in finished]


@contextmanager
def publishing_to(url: str) -> Iterator[None]:
    """Make this process's Celery app publish to `url` (the app caches its broker pools)."""
    from config.celery import app

    def reset_pools() -> None:
        from kombu import pools

        # kombu keeps producer pools in a process-wide registry keyed by broker; closing only
        # the app's pool would leave a closed one there for the next test to trip over.
        pools.reset()
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None

    old = app.conf.broker_url
    app.conf.broker_url = url
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url = old
        reset_pools()


class DeployTool:
    """A team's deploy tool on loopback. It takes each call key once (answering a repeat with 202
    but doing nothing), and reports success a little later from its own thread through the same
    service the report endpoint calls, with the token from the call's report_url. GET answers
    as the new version's health endpoint."""

    def __init__(
        self,
        reporter: Any,
        *,
        version: str = "2.0.0",
        report_after: float = 0.3,
        answer_delay: tuple[float, float] = (0.0, 0.0),
        auto_report: bool = True,
        health_delay: float = 0.0,
    ) -> None:
        self.reporter = reporter
        self.version = version
        self.report_after = report_after
        self.answer_delay = answer_delay
        self.auto_report = auto_report
        self.health_delay = health_delay
        self.lock = threading.Lock()
        self.deliveries: list[tuple[int, str, str]] = []  # (wave id, action, key), repeats too
        self.accepted: dict[str, tuple[int, str]] = {}  # key -> (wave id, action)
        self.reported: set[str] = set()
        self.report_errors: list[str] = []
        self.health_requests = 0
        self.answering = threading.Event()  # set while a deploy request waits for its answer
        self._reports: queue.Queue = queue.Queue()
        self._random = random.Random(7)

    def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
        if method == "GET":
            with self.lock:
                self.health_requests += 1
            time.sleep(self.health_delay)
            return 200, {"version": self.version}
        payload = json.loads(body)
        key = {k.lower(): v for k, v in headers.items()}.get("idempotency-key")
        if key != payload["key"]:
            return 400, {"detail": "Idempotency-Key header and body key differ"}
        with self.lock:
            self.deliveries.append((payload["wave"]["id"], payload["action"], key))
            first = key not in self.accepted
            if first:
                self.accepted[key] = (payload["wave"]["id"], payload["action"])
            delay = self._random.uniform(*self.answer_delay)
        if first and self.auto_report and payload["action"] == "deploy":
            token = parse_qs(urlsplit(payload["report_url"]).query)["token"][0]
            self._reports.put(
                (time.monotonic() + self.report_after, payload["wave"]["id"], key, token)
            )
        self.answering.set()
        try:
            time.sleep(delay)  # the window in which the caller has sent but not recorded
        finally:
            self.answering.clear()
        return 202, {"accepted": True, "repeat": not first}

    # --- what it saw ---

    def accepted_per_wave(self, action: str = "deploy") -> Counter:
        with self.lock:
            return Counter(w for w, a in self.accepted.values() if a == action)

    def keys_per_wave(self, action: str = "deploy") -> Counter:
        with self.lock:
            return Counter(w for w, a, _ in set(self.deliveries) if a == action)

    def repeats(self) -> int:
        with self.lock:
            return len(self.deliveries) - len(self.accepted)

    # --- reporting back ---

    def _report_loop(self, stop: threading.Event) -> None:
        from django.db import connections

        try:
            while not stop.is_set():
                try:
                    due, wave_id, key, token = self._reports.get(timeout=0.1)
                except queue.Empty:
                    continue
                time.sleep(max(0.0, due - time.monotonic()))
                self._report(wave_id, key, token, stop)
        finally:
            connections.close_all()  # this thread's own connection

    def _report(self, wave_id: int, key: str, token: str, stop: threading.Event) -> None:
        from django.db import connections

        from apps.rollouts.models import DeployCall
        from apps.rollouts.reports import ReportCredentials, deploy_report

        while not stop.is_set():
            try:
                deploy_report(
                    wave_id=wave_id,
                    status="succeeded",
                    key=key,
                    message="ok",
                    credentials=ReportCredentials(token=token),
                )
                break
            except Exception as exc:
                # Publishing the follow-up step after commit fails while Redis is down; the
                # report itself is in the database by then, and the tick will find the step.
                self.report_errors.append(f"{type(exc).__name__}: {exc}")
                connections.close_all()
                if DeployCall.objects.filter(key=key, state="succeeded").exists():
                    break
                time.sleep(0.2)
        with self.lock:
            self.reported.add(key)

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on loopback; yields the base URL. Reports still owed are dropped at the end."""
        from tests.loopback import loopback_server

        stop = threading.Event()
        thread = threading.Thread(target=self._report_loop, args=(stop,), daemon=True)
        with loopback_server(self.respond) as (url, _):
            thread.start()
            try:
                yield url
            finally:
                stop.set()
                thread.join(10)


class Engine:
    """A private Redis, a Celery worker and beat, all killable, publishing and consuming there."""

    def __init__(self, tmp: Path, *, tick_seconds: float, db_url: str, worker_app: str = "config"):
        self.tmp = tmp
        self.tick_seconds = tick_seconds
        self.redis = RedisServer(free_port(), tmp / "redis.log")
        env = celery_env(db_url=db_url, redis_url=self.redis.url, tick_seconds=tick_seconds)
        self.worker = celery_worker(env, tmp / "worker.log", app=worker_app)
        self.beat = celery_beat(env, tmp / "beat.log", tmp / "celerybeat-schedule")
        self.worker_kills = 0

    def start(self, *, worker: bool = True, beat: bool = True) -> None:
        self.redis.start()
        self.redis.wait_ready()
        if worker:
            self.worker.start()
            self.worker.wait_ready()
        if beat:
            self.beat.start()
            self.beat.wait_ready()

    def kill_worker(self) -> list[str]:
        """SIGKILL the worker's group; returns the tasks it was in the middle of."""
        since = self.worker.started_at_offset
        self.worker.kill()
        self.worker_kills += 1
        return interrupted_tasks(self.worker.log(since))

    def restart_worker(self) -> None:
        self.worker.start()
        self.worker.wait_ready()

    def restart_redis(self, *, down_for: float) -> None:
        """Kill redis-server outright, leave it down a while, start it empty on the same port."""
        self.redis.kill()
        time.sleep(down_for)
        self.redis.start()
        self.redis.wait_ready()

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.redis):
            try:
                process.stop()
            except Exception:  # keep stopping the others
                pass

    def logs(self) -> str:
        parts = []
        for name, process in (("worker", self.worker), ("beat", self.beat)):
            parts.append(f"--- {name} log (tail) ---\n{process.log()[-6000:]}")
        return "\n".join(parts)


@contextmanager
def own_engine(tmp: Path, *, tick_seconds: float = 0.5) -> Iterator[Engine]:
    """An engine of its own, not started yet; this process publishes to its Redis meanwhile."""
    engine = Engine(tmp, tick_seconds=tick_seconds, db_url=database_url())
    try:
        with publishing_to(engine.redis.url):
            yield engine
    finally:
        engine.stop()
