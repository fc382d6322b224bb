"""The demo's broker: kombu's file-system transport, with every file appearing whole.

kombu's own `_put` creates a message under its final name and only then writes it, so a reader
listing the folder can take the file while it is still empty and fail to parse it (kombu issue
#1551); an exchange's routing table is created the same way. Here a file is written under a
name in a staging folder no reader lists, then renamed or linked into place, both atomic on one
file system. A reader claims a message by renaming it into a folder of its own before reading
it, so two readers never share one, whatever file system holds the temporary directory.

Selected by `CELERY_BROKER_TRANSPORT = "apps.core.broker:Transport"` beside a `filesystem://` URL.
"""

import contextlib
import logging
import os
import threading
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.virtual import BrokerState
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

logger = logging.getLogger(__name__)

# Inside the message folder, on the same file system; the reader only takes names ending in
# `.<queue>.msg`, which these folders' names never do.
STAGING = ".staging"
CLAIMED = ".claimed"
REJECTED = ".rejected"

# Bindings live in memory shared by every connection of a process as well as in the routing
# table's file: one binding at a time, so no thread sees one in memory before it is on disk.
_binding = threading.Lock()


class Channel(filesystem.Channel):
    @cached_property
    def staging_folder(self) -> str:
        return _folder(self.data_folder_out, STAGING)

    @cached_property
    def claimed_folder(self) -> str:
        return _folder(self.data_folder_in, CLAIMED)

    def _staged(self, data: bytes, folder: str | None = None) -> str:
        """A fully written file under a unique name in a staging folder."""
        path = os.path.join(folder or self.staging_folder, f"{uuid.uuid4()}.tmp")
        try:
            with open(path, "wb") as staged:
                staged.write(data)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        return path

    # Both keep kombu's file-system signatures, which already differ from its base channel's.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # kombu's naming, so messages are taken in the order they were sent.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        target = os.path.join(self.data_folder_out, name)
        try:
            os.replace(self._staged(str_to_bytes(dumps(payload))), target)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {target!r} to directory") from exc

    def _get(self, queue: str) -> Any:  # type: ignore[override]
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(self.claimed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except FileNotFoundError:
                continue  # another reader took it first
            except OSError as exc:
                raise ChannelError(f"Cannot claim {name!r} from the queue.") from exc
            try:
                with open(claimed, "rb") as message:
                    payload = message.read()
                document = loads(bytes_to_str(payload))
            except ValueError:
                # Not written by this transport (a file from before it, or by hand): set aside
                # for a person to look at; the worker carries on with the next message.
                rejected = os.path.join(_folder(self.data_folder_in, REJECTED), name)
                os.replace(claimed, rejected)
                logger.error("Set aside a broker message that is not JSON: %s", rejected)
                continue
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            os.unlink(claimed)
            return document
        raise Empty()

    def queue_bind(self, *args: Any, **kwargs: Any) -> Any:
        with _binding:
            return super().queue_bind(*args, **kwargs)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str | None, queue: str) -> None:
        # kombu creates a missing routing table by truncating and then writing it, and
        # publishers read it without waiting for that: create it whole, this binding in it, so
        # kombu only ever updates it under its lock.
        table = self._exchange_file(exchange)  # type: ignore[attr-defined]  # not in the stubs
        if not table.exists():
            self.control_folder.mkdir(exist_ok=True)
            entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            staged = self._staged(
                str_to_bytes(dumps([entry])), _folder(str(self.control_folder), STAGING)
            )
            try:
                os.link(staged, table)
                return
            except FileExistsError:
                pass  # another process created it meanwhile: add to it below
            except OSError as exc:
                raise ChannelError(f"Cannot create {table}") from exc
            finally:
                os.unlink(staged)
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    Channel = Channel
    # Its own broker state, apart from any plain file-system transport in the same process.
    global_state = BrokerState()


def _folder(parent: str, name: str) -> str:
    path = Path(parent) / name
    path.mkdir(exist_ok=True)
    return str(path)
