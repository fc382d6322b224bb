"""The demo's file-system broker: a message is read whole, once, however many processes and
threads publish and consume at the same time."""

import json
import threading
from pathlib import Path

from kombu import Connection

from apps.core.broker import Transport

WRITERS = 2
READERS = 2
MESSAGES_PER_WRITER = 400
PADDING = "x" * 2000  # a body that takes a moment to write


def _connection(folder: Path) -> Connection:
    return Connection(
        "filesystem://localhost//",
        transport=Transport,
        transport_options={
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.001,
        },
    )


def test_concurrent_writers_and_readers_lose_and_half_read_nothing(tmp_path):
    # kombu's own transport fails this within a few hundred messages: a reader takes a file
    # its writer has created but not yet written and raises JSONDecodeError.
    (tmp_path / "out").mkdir()
    (tmp_path / "control").mkdir()
    writers_done = threading.Event()
    received: list[tuple[int, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        with _connection(tmp_path) as connection:
            queue = connection.SimpleQueue("race")
            for number in range(MESSAGES_PER_WRITER):
                queue.put({"writer": writer, "number": number, "padding": PADDING})
            queue.close()

    def read() -> None:
        with _connection(tmp_path) as connection:
            queue = connection.SimpleQueue("race")
            idle = 0
            while idle < 10 or not writers_done.is_set():
                try:
                    message = queue.get(timeout=0.1)
                except queue.Empty:
                    idle += 1
                    continue
                except Exception as exc:  # the failure this test exists to catch
                    with lock:
                        errors.append(repr(exc))
                    continue
                idle = 0
                with lock:
                    received.append((message.payload["writer"], message.payload["number"]))
                message.ack()
            queue.close()

    readers = [threading.Thread(target=read) for _ in range(READERS)]
    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    writers_done.set()
    for thread in readers:
        thread.join(timeout=120)

    assert errors == []
    expected = {(w, n) for w in range(WRITERS) for n in range(MESSAGES_PER_WRITER)}
    assert len(received) == len(expected)  # none read twice
    assert set(received) == expected  # none lost
    assert list((tmp_path / "out").glob("*.msg")) == []


def test_a_message_file_that_is_not_json_is_set_aside_and_the_next_one_read(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "control").mkdir()
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("jobs")
        # Sorts first: what kombu's own transport could leave behind, a file never written.
        (tmp_path / "out" / "0_0.jobs.msg").write_bytes(b"")
        queue.put({"job": 1})

        message = queue.get(timeout=5)
        message.ack()
        queue.close()

    assert message.payload == {"job": 1}
    assert [p.name for p in (tmp_path / "out" / ".rejected").iterdir()] == ["0_0.jobs.msg"]


def test_routing_table_is_written_whole_before_anyone_can_read_it(tmp_path):
    # Bindings are remembered per process, so this queue's name is its own.
    (tmp_path / "out").mkdir()
    (tmp_path / "control").mkdir()
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("tables")
        queue.put({"table": 1})  # declares the queue, which binds it
        queue.close()

    table = json.loads((tmp_path / "control" / "tables.exchange").read_text())
    assert table == [["tables", "", "tables"]]
    assert list((tmp_path / "control" / ".staging").iterdir()) == []
