"""One turn at a time per conversation: two interleaved turns would each answer without the
other's question in their history, and two approvals could both run a tool.

`TurnLocks` is the interface: `hold(conversation_id)` for as long as a turn (or a deletion,
or a rating that reads the turn's answer) needs the conversation to itself, with a lease
after which a shared implementation (Redis, PostgreSQL) may give the lock up if its holder
died. `LocalTurnLocks` keeps the locks of this process (no lease: a process that dies takes
its locks with it), so two replicas can still run one conversation's turns at once until a
shared implementation is configured.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

DEFAULT_LEASE_SECONDS = 300.0  # longer than any turn: the model's timeout with its retries and fallbacks


class TurnLocks(Protocol):
    def hold(self, conversation_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS
             ) -> AbstractAsyncContextManager[None]: ...


class LocalTurnLocks:
    def __init__(self) -> None:
        # Only conversations with a holder or a waiter have a lock: the table does not grow.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, conversation_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> AsyncIterator[None]:
        # No lease here: an in-process lock cannot outlive its holder. A shared lock needs one.
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:
            yield
