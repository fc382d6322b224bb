import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery import Task as BaseTask
from kombu.exceptions import OperationalError
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

logger = logging.getLogger(__name__)


class Task(BaseTask):
    """Sending a task never fails the caller while the broker is down: the work it stands for
    is a row that a tick finds again once the broker is back (a lost message only delays work),
    so a web request or a step goes on with a warning instead of an error."""

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().apply_async(*args, **kwargs)
        except OperationalError as exc:
            logger.warning(
                "Broker unavailable, %s not sent (a tick sends it again): %s", self.name, exc
            )
            return None


class RedisChannel(kombu_redis.Channel):
    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        # When the broker goes away, Celery first collects the connection (which forgets the
        # broker's address) and then closes it; closing restores the unacknowledged messages and
        # needs a client for that. Without an address kombu fails with an AttributeError, which
        # kills the worker. As a connection error Celery reconnects instead; the messages the
        # close could not restore come back after the visibility timeout.
        if client is None and self.connection.client is None:
            raise RedisConnectionError("The broker connection is closed.")
        with super().conn_or_acquire(client) as acquired:
            yield acquired


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, surviving a broker restart (CELERY_BROKER_TRANSPORT)."""

    Channel = RedisChannel


app = Celery("releasedeck", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
