"""Runs the zero-settings demo for a long time and counts what its broker lost or half-read.

    .venv/bin/python bench/soak_demo.py [--minutes 60] [--tick 5] [--kill-worker-every 0]

Starts `manage.py rundemo` in a temporary copy of the checkout (as a fresh clone would, with
nothing in the environment but PATH and HOME) on a free loopback port, with beat's tick set to
`--tick` seconds, and stops it after `--minutes`. With `--kill-worker-every N` it SIGKILLs the
Celery worker every N minutes, as the out-of-memory killer would, to see rundemo restart it.
Then prints ticks sent and run, messages lost, half-read messages and other errors in the
children's output, child restarts, wave state changes and check results. The copy is removed
at the end (Ctrl-C included) unless `--keep`.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = {
    "releases-tick": "apps.releases.tasks.tick",
    "rollouts-tick": "apps.rollouts.tasks.tick",
    "notifications-tick": "apps.notifications.tasks.tick",
}
DEFAULT_TICK_SECONDS = 5.0
HOUR_OF_TICKS = int(3600 / DEFAULT_TICK_SECONDS)
START_TIMEOUT = 180
STOP_TIMEOUT = 60

HALF_READ = re.compile(r"JSONDecodeError|Expecting value|Set aside a broker message")
ERROR = re.compile(r"Traceback|\bERROR\b|CRITICAL|ChannelError")


def copy_checkout(target: Path) -> None:
    """Tracked files and new ones not yet committed: what a fresh clone would hold."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def worker_pid(rundemo: int) -> int | None:
    return next(
        (pid for pid, cmd in children_of(rundemo) if "celery -A config worker" in cmd), None
    )


def count(db: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, params).fetchone()[0]


def left_in_queue(broker: Path) -> Counter:
    """Messages still waiting when the demo stopped, by task name."""
    left: Counter = Counter()
    for path in (broker / "out").glob("*.msg"):
        try:
            left[json.loads(path.read_bytes())["headers"]["task"]] += 1
        except (OSError, ValueError, KeyError):
            left["(unreadable)"] += 1
    return left


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="How long to run (real time).")
    parser.add_argument(
        "--tick", type=float, default=DEFAULT_TICK_SECONDS, help="Beat's tick in seconds."
    )
    parser.add_argument(
        "--kill-worker-every",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="SIGKILL the Celery worker this often (0: never).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary copy.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="releasedeck-soak-"))
    clone = workdir / "releasedeck"
    log_path = workdir / "rundemo.log"
    copy_checkout(clone)
    port = free_port()
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    env["RELEASEDECK_TICK_SECONDS"] = str(args.tick)
    print(f"Soak: {args.minutes:g} min, tick {args.tick:g} s, port {port}, in {clone}", flush=True)

    process = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--port", str(port)],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = threading.Event()
    log = log_path.open("wb")

    def relay() -> None:
        for raw in iter(process.stdout.readline, b""):  # type: ignore[union-attr]
            log.write(raw)
            log.flush()
            if raw.startswith(b"Press Ctrl-C to stop."):
                started.set()

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    db = clone / "var" / "releasedeck.sqlite3"
    kills = 0
    try:
        if not started.wait(START_TIMEOUT):
            print(f"The demo did not start; see {log_path}", file=sys.stderr)
            args.keep = True
            return 1
        first_event = count(db, "SELECT COALESCE(MAX(id), 0) FROM audit_auditevent")
        began = time.monotonic()
        end = began + args.minutes * 60
        next_kill = began + args.kill_worker_every * 60 if args.kill_worker_every else None
        while (now := time.monotonic()) < end and process.poll() is None:
            if next_kill is not None and now >= next_kill:
                pid = worker_pid(process.pid)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                next_kill += args.kill_worker_every * 60
            time.sleep(min(5.0, max(0.1, end - now)))
        ran_minutes = (time.monotonic() - began) / 60
        still_running = process.poll() is None
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=STOP_TIMEOUT)
        reader.join(timeout=10)
        log.close()

        text = log_path.read_text(errors="replace")
        lines = text.splitlines()
        sent = Counter(
            task for name, task in TICKS.items() for line in lines if f"due task {name} " in line
        )
        received = Counter(
            task
            for task in TICKS.values()
            for line in lines
            if f"Task {task}[" in line and line.endswith("received")
        )
        succeeded = Counter(
            task
            for task in TICKS.values()
            for line in lines
            if f"Task {task}[" in line and " succeeded in " in line
        )
        discarded = Counter(
            task
            for task in TICKS.values()
            for line in lines
            if f"Discarding revoked task: {task}[" in line
        )
        left = left_in_queue(clone / "var" / "broker")
        lost = {t: sent[t] - received[t] - left[t] for t in TICKS.values()}
        half_read = sum(1 for line in lines if HALF_READ.search(line))
        errors = [line for line in lines if ERROR.search(line)]
        restarts = sum(1 for line in lines if re.search(r"^\w+ restarted \(pid", line))
        wave_moves = count(
            db,
            "SELECT COUNT(*) FROM audit_auditevent WHERE id > ? AND verb = 'wave.state_changed'",
            first_event,
        )
        results = count(db, "SELECT COUNT(*) FROM rollouts_checkresult")
        passed = count(db, "SELECT COUNT(*) FROM rollouts_checkresult WHERE ok")
        rollout_ticks = succeeded[TICKS["rollouts-tick"]]

        print(f"ran {ran_minutes:.1f} min; demo still running at the end: {still_running}")
        print(f"rundemo exit code after SIGTERM: {exit_code}")
        print(
            f"ticks seen (rollouts tick run by the worker): {rollout_ticks} "
            f"({'at least' if rollout_ticks >= HOUR_OF_TICKS else 'fewer than'} an hour's "
            f"{HOUR_OF_TICKS} at the default {DEFAULT_TICK_SECONDS:g} s tick)"
        )
        for name, task in TICKS.items():
            print(
                f"  {name}: sent {sent[task]}, received {received[task]}, run {succeeded[task]}, "
                f"expired unrun {discarded[task]}, "
                f"held by a killed worker {received[task] - succeeded[task] - discarded[task]}, "
                f"left queued at stop {left[task]}, lost {lost[task]}"
            )
        print(f"messages lost: {sum(lost.values())}")
        print(f"half-read messages (JSONDecodeError or set aside): {half_read}")
        print(f"other error lines: {len(errors)}")
        for line in errors[:10]:
            print(f"  {line}")
        print(f"worker kills: {kills}; child restarts: {restarts}")
        print(f"wave state changes: {wave_moves}")
        print(f"check results recorded: {results} ({passed} passed)")
        print(f"log: {log_path}" if args.keep else "")
        return 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if not log.closed:
            log.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
