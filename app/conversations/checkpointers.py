"""Checkpointers: where conversations live between turns and across restarts."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from app.settings import ConfigurationError

# The PostgreSQL advisory lock replicas take around LangGraph's checkpoint migrations.
SETUP_LOCK_KEY = zlib.crc32(b"chatbot-checkpoint-setup")


@asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver]:
    """A checkpointer for `sqlite:///path` (default) or `postgresql://...` (production)."""
    if url.startswith("sqlite:///"):
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            # WAL lets readers (the CLI, other replicas' health checks) work during writes;
            # synchronous=NORMAL skips an fsync per checkpoint (a turn writes several):
            # commits survive a process crash, and an OS crash loses at most the last ones.
            await saver.conn.execute("PRAGMA journal_mode=WAL")
            await saver.conn.execute("PRAGMA synchronous=NORMAL")
            await saver.setup()
            yield saver
    elif url.startswith(("postgresql://", "postgres://")):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        # No prepared statements and a check on checkout: poolers and dropped SSL
        # connections otherwise break checkpoint writes (known LangGraph issues).
        async with AsyncConnectionPool(
            url,
            min_size=1,
            max_size=10,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
            check=AsyncConnectionPool.check_connection,
        ) as pool:
            saver = AsyncPostgresSaver(pool)
            async with pool.connection() as connection:
                # Replicas starting together would race in setup()'s migrations (a duplicate
                # key in checkpoint_migrations fails all but one): one at a time. The lock is
                # polled, not waited for in the database: a session blocked in a statement
                # would hold up setup()'s CREATE INDEX CONCURRENTLY, which waits for it.
                await _take_polled_lock(connection, SETUP_LOCK_KEY)
                try:
                    await saver.setup()
                finally:
                    await connection.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
            yield saver
    else:
        raise ConfigurationError("DATABASE_URL must start with sqlite:/// or postgresql://")


async def _take_polled_lock(connection: Any, key: int, poll_seconds: float = 0.1) -> None:
    """Take a session advisory lock by trying (no statement left waiting in the database)."""
    while True:  # noqa: ASYNC110 - the condition is in the database: polled, there is no event to wait on
        row = await (await connection.execute("SELECT pg_try_advisory_lock(%s) AS held", (key,))).fetchone()
        if row["held"]:
            return
        await asyncio.sleep(poll_seconds)


async def ping_checkpointer(saver: BaseCheckpointSaver) -> None:
    """Raise if the checkpointer's database does not answer."""
    await saver.aget_tuple({"configurable": {"thread_id": "__health__", "checkpoint_ns": ""}})
