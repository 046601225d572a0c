"""The database of the service's own tables: one SQLAlchemy engine over SQLite or PostgreSQL.

The same statements run on both (SQLAlchemy Core compiles them for each dialect; upserts
use the dialect's own `INSERT ... ON CONFLICT`). Each statement commits by itself, as the
stores need no transaction longer than one statement. SQLite (the default) runs in WAL
mode, so the CLI and other processes read while the service writes; PostgreSQL
(DATABASE_URL) is shared by every replica. Calls block: async callers use a thread.

A store asks for its tables with `require(branch)`: a new, empty database gets them at
once (there is nothing to migrate); a database made by an older version is refused until
`chatbot db upgrade` has migrated it (app/ledgers/schema.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, Row, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite

from app.ledgers import schema
from app.settings import ConfigurationError


def sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as SQLAlchemy names it: psycopg 3 for PostgreSQL."""
    if url.startswith("sqlite:///"):
        return url
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    raise ConfigurationError("DATABASE_URL must start with sqlite:/// or postgresql://")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL survives any process crash; only a power cut can lose the last
    # commits. It keeps an fsync out of every turn's registry write.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")


def build_engine(url: str) -> Engine:
    target = sqlalchemy_url(url)
    if target.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(target, connect_args={"check_same_thread": False}, pool_size=4,
                               isolation_level="AUTOCOMMIT")
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No prepared statements (poolers), and a check on checkout (dropped connections).
    return create_engine(target, pool_size=4, max_overflow=2, pool_pre_ping=True, isolation_level="AUTOCOMMIT",
                         connect_args={"prepare_threshold": None})


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = build_engine(url)
        self._current: set[str] = set()  # schema branches found current

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def require(self, branch: str) -> None:
        """The tables of `branch` exist at the code's revision (created in a new database), or
        `SchemaBehind` says to run `chatbot db upgrade`."""
        if branch not in self._current:
            schema.ensure_current(self, branch)
            self._current.add(branch)

    def execute(self, statement: Executable, parameters: Sequence[dict[str, Any]] | dict[str, Any] | None = None
                ) -> list[Row]:
        """Run one statement (it commits by itself); its rows, if it returns any."""
        with self.engine.connect() as connection:
            result = connection.execute(statement, parameters)
            return list(result) if result.returns_rows else []

    def insert(self, table: Table) -> Any:
        """INSERT for this database's dialect, with `on_conflict_do_nothing/do_update`."""
        return (postgresql.insert if self.backend == "postgresql" else sqlite.insert)(table)

    def close(self) -> None:
        self.engine.dispose()


def owned(source: Database | str) -> tuple[Database, bool]:
    """A store's database: the one it is given (shared), or one it opens and closes itself."""
    return (source, False) if isinstance(source, Database) else (Database(source), True)
