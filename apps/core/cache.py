"""Django's Redis cache, failing open: while Redis cannot be reached, reads miss and writes are
dropped with a logged warning, so sessions (kept in the database too), time zones and status
documents come from the database and requests go on working.

Counters (`incr`, `decr`) still raise: a count that cannot be kept is for its caller to judge
(the throttles let the request through). So do commands sent through `redis_client`.
"""

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
WARN_EVERY = 10.0  # seconds: one warning per process and period, not one per request

T = TypeVar("T")
_warned_at = 0.0


def warn_unavailable(what: str, exc: BaseException) -> None:
    global _warned_at
    now = time.monotonic()
    if now - _warned_at >= WARN_EVERY:
        _warned_at = now
        logger.warning("Redis is unavailable (%s): %s; carrying on without it.", what, exc)


def redis_client(alias: str) -> Redis | None:
    """A redis-py client on the server the cache `alias` writes to, for commands the cache API
    lacks (a counter's expiry, its time to live); None when that cache is not Redis."""
    if not isinstance(caches[alias], RedisCache):
        return None
    config: dict[str, Any] = settings.CACHES[alias]
    location = config["LOCATION"]
    servers = location.split(",") if isinstance(location, str) else location
    options = {
        name: value
        for name, value in config.get("OPTIONS", {}).items()
        if name not in ("pool_class", "parser_class")  # the cache's own choices of classes
    }
    return _client(servers[0].strip(), tuple(sorted(options.items())))


@functools.cache
def _client(url: str, options: tuple[tuple[str, Any], ...]) -> Redis:
    # One per process and server: a client holds its connection pool, and building one costs
    # more than the round trip it makes.
    return Redis.from_url(url, **dict(options))


class FailOpenRedisCache(RedisCache):
    def _open(self, call: Callable[[], T], fallback: T) -> T:
        try:
            return call()
        except UNAVAILABLE as exc:
            warn_unavailable("cache", exc)
            return fallback

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        base_get = super().get
        return self._open(lambda: base_get(key, default, version), default)

    def get_many(self, keys: Any, version: int | None = None) -> dict[str, Any]:
        base_get_many = super().get_many
        return self._open(lambda: base_get_many(keys, version), {})

    def has_key(self, key: Any, version: int | None = None) -> bool:
        base_has_key = super().has_key
        return self._open(lambda: base_has_key(key, version), False)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        base_add = super().add
        return self._open(lambda: base_add(key, value, timeout, version), False)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        base_set = super().set
        self._open(lambda: base_set(key, value, timeout, version), None)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        base_set_many = super().set_many
        return self._open(lambda: base_set_many(data, timeout, version), list(data))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        base_touch = super().touch
        return self._open(lambda: base_touch(key, timeout, version), False)

    def delete(self, key: Any, version: int | None = None) -> bool:
        base_delete = super().delete
        return self._open(lambda: base_delete(key, version), False)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        base_delete_many = super().delete_many
        self._open(lambda: base_delete_many(keys, version), None)

    # RedisCache.clear returns flushdb's answer; django-stubs give it BaseCache's `None`.
    def clear(self) -> bool:  # type: ignore[override]
        base_clear = super().clear
        return bool(self._open(base_clear, None))
