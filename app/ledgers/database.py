"""One small SQL handle over SQLite (the default) or PostgreSQL (DATABASE_URL).

For the service's own tables (usage ledger, conversation registry); LangGraph's
checkpointer manages its own connections. Statements use `?` placeholders; they are
rewritten to psycopg's `%s` for PostgreSQL. Calls block: async callers use a thread.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from app.settings import ConfigurationError


class Database:
    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        self._pool = None
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives any process crash; only a power cut can lose the
            # last commits. It keeps an fsync out of every turn's registry write.
            self._sqlite.execute("PRAGMA synchronous=NORMAL")
            self._sqlite.execute("PRAGMA busy_timeout=5000")
        elif url.startswith(("postgresql://", "postgres://")):
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(url, min_size=1, max_size=4, open=True,
                                        kwargs={"autocommit": True, "prepare_threshold": None},
                                        check=ConnectionPool.check_connection)
        else:
            raise ConfigurationError("DATABASE_URL must start with sqlite:/// or postgresql://")

    @property
    def backend(self) -> str:
        return "postgresql" if self._pool is not None else "sqlite"

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one statement (autocommit); returns its rows, if any."""
        if self._pool is not None:
            with self._pool.connection() as conn:
                cursor = conn.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
        with self._lock:
            return self._sqlite.execute(sql, params).fetchall()

    def add_column(self, table: str, column: str, definition: str) -> None:
        """Add a column a table made by an older version lacks (a no-op when it is there)."""
        if self._pool is not None:
            self.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {definition}")
        elif column not in {row[1] for row in self.execute(f"PRAGMA table_info({table})")}:
            try:
                self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        elif self._sqlite is not None:
            self._sqlite.close()
