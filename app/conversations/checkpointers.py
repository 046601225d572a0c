"""Checkpointers: where conversations live between turns and across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

from app.settings import ConfigurationError


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
            await saver.setup()
            yield saver
    else:
        raise ConfigurationError("DATABASE_URL must start with sqlite:/// or postgresql://")


async def ping_checkpointer(saver: BaseCheckpointSaver) -> None:
    """Raise if the checkpointer's database does not answer."""
    await saver.aget_tuple({"configurable": {"thread_id": "__health__", "checkpoint_ns": ""}})
