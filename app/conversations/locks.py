"""One turn at a time per conversation: two interleaved turns would each answer without the
other's question in their history, and two approvals could both run a tool.

`TurnLocks` is the interface: `hold(conversation_id)` for as long as a turn (or a deletion,
or a rating that reads the turn's answer) needs the conversation to itself. `LocalTurnLocks`
keeps the locks of this process (a process that dies takes its locks with it): enough for
one replica. `RedisTurnLocks` (with REDIS_URL) holds them in Redis for every replica, each
with a lease its holder renews while it lives, so the lock of a replica that dies is free
again one lease later. When Redis cannot be reached, a hold that is `required` (deciding
on a tool call that waits for approval: two approvals racing on two replicas must not both
run it) is refused with 503 `unavailable`; any other falls back to this process's lock, so
the service keeps answering, each replica still one turn at a time per conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from app.errors import ErrorCode, ServiceError
from app.observability import metrics

log = logging.getLogger("chatbot.locks")
DEFAULT_LEASE_SECONDS = 30.0  # how long a lock outlives a holder that died (a live holder renews it)


class TurnLocks(Protocol):
    def hold(self, conversation_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, *,
             required: bool = False) -> AbstractAsyncContextManager[None]:
        """The conversation to itself; `required`: only under the shared lock, never a fallback."""


class LocalTurnLocks:
    def __init__(self) -> None:
        # Only conversations with a holder or a waiter have a lock: the table does not grow.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, conversation_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, *,
                   required: bool = False) -> AsyncIterator[None]:
        # No lease here: an in-process lock cannot outlive its holder. A shared lock needs one.
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:
            yield


class RedisTurnLocks:
    """Turn locks shared by every replica on one Redis (redis-py's token lock: only its holder
    releases it), renewed every third of the lease while held."""

    def __init__(self, client: Any, prefix: str = "chatbot:turn-lock:", poll_seconds: float = 0.05):
        self._client, self._prefix, self._poll = client, prefix, poll_seconds
        self.fallback = LocalTurnLocks()

    @asynccontextmanager
    async def hold(self, conversation_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, *,
                   required: bool = False) -> AsyncIterator[None]:
        from redis.exceptions import LockError, RedisError

        lock = self._client.lock(self._prefix + conversation_id, timeout=lease_seconds, sleep=self._poll)
        try:
            await lock.acquire()  # waits, as the local lock does, for the turn before it
        except RedisError as exc:
            metrics.TURN_LOCK_FALLBACKS.labels("refused" if required else "local").inc()
            if required:
                log.error("turn lock: Redis cannot be reached (%s): a decision is refused", type(exc).__name__)
                raise ServiceError(ErrorCode.UNAVAILABLE, what="the turn lock (Redis)") from None
            log.warning("turn lock: Redis cannot be reached (%s): this replica's lock serves", type(exc).__name__)
            async with self.fallback.hold(conversation_id):
                yield
            return
        renewal = asyncio.create_task(self._renew(lock, lease_seconds))
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            try:
                await asyncio.shield(lock.release())
            except (LockError, RedisError) as exc:  # expired (a stalled holder) or Redis is gone: it frees itself
                log.warning("turn lock of %s not released: %s", conversation_id, type(exc).__name__)

    @staticmethod
    async def _renew(lock: Any, lease_seconds: float) -> None:
        from redis.exceptions import LockError, RedisError

        while True:
            await asyncio.sleep(lease_seconds / 3)
            try:
                await lock.reacquire()
            except (LockError, RedisError) as exc:
                log.error("turn lock lease not renewed: %s", type(exc).__name__)
