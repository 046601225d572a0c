"""Read an async generator from a task of its own, so that closing the reader really stops it.

A LangGraph run stops its node tasks (the model call among them) when its `astream` is
closed or cancelled, but its cleanup awaits those tasks. Under anyio's level cancellation
(sse-starlette cancels a stream whose client went away with an anyio cancel scope) every
such await is cancelled again, the cleanup is cut short, and the node tasks run on: the
model keeps writing an answer nobody reads. Iterated in a plain asyncio task, the run is
cancelled the asyncio way and cleans up in full; the reader waits for that, shielded, so
the turn's lock is only given back once the run has stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeVar

import anyio

T = TypeVar("T")
CLEANUP_SECONDS = 10.0
_DONE = object()


@asynccontextmanager
async def detached(source: AsyncGenerator[T, None]) -> AsyncIterator[AsyncIterator[T]]:
    """`async with detached(agen) as items: async for item in items: ...`; leaving the block
    early (a break, an error, a cancellation) cancels the source's task and waits for it."""
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue(maxsize=1)

    async def pump() -> None:
        try:
            async with aclosing(source):
                async for item in source:
                    await queue.put((item, None))
        except Exception as exc:  # handed to the reader, raised there
            await queue.put((_DONE, exc))
            return
        await queue.put((_DONE, None))

    async def items() -> AsyncIterator[T]:
        while True:
            item, error = await queue.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item

    task = asyncio.create_task(pump())
    try:
        yield items()
    finally:
        if not task.done():
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task}, timeout=CLEANUP_SECONDS)
