"""Schema versions of the service's own tables: Alembic migrations, checked at start-up.

Two branches of migrations (app/ledgers/migrations/versions): `ledgers` for the tables at
the ledger database and `conversations` for the registry beside the checkpoints; with one
PostgreSQL (DATABASE_URL) both live in one database and one version table. A database is
`new` (none of the branch's tables: they are created at once), `current`, or `behind`: at
an older revision, or made before migrations existed (its tables but no version). The
service refuses to start on a database that is behind; `chatbot db upgrade` migrates it,
keeping its rows. Migrations of one database run one at a time (an advisory lock on
PostgreSQL, a file lock beside a SQLite file), so replicas starting together are safe.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from app.settings import ConfigurationError

if TYPE_CHECKING:
    from app.ledgers.database import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "chatbot_schema_version"
BRANCHES = ("ledgers", "conversations")
State = Literal["new", "current", "behind"]
_LOCK_KEY = zlib.crc32(b"chatbot-schema")  # the PostgreSQL advisory lock of migrations


class SchemaBehind(ConfigurationError):
    """The database was made by an older version of the service: it needs `chatbot db upgrade`."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head(branch: str) -> str:
    """The revision the code needs for `branch`."""
    return _script().get_revision(f"{branch}@head").revision


@cache
def _revisions(branch: str) -> frozenset[str]:
    return frozenset(r.revision for r in _script().iterate_revisions(f"{branch}@head", "base"))


def _current(connection: Connection, branch: str) -> str | None:
    heads = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_heads()
    return next((h for h in heads if h in _revisions(branch)), None)


def current(db: Database, branch: str) -> str | None:
    """The database's revision of `branch` (None: not migrated yet)."""
    with db.engine.connect() as connection:
        return _current(connection, branch)


def _state(connection: Connection, branch: str) -> State:
    from app.ledgers.tables import BRANCH_TABLES

    revision = _current(connection, branch)
    if revision == head(branch):
        return "current"
    if revision is None and not {t.name for t in BRANCH_TABLES[branch]} & set(inspect(connection).get_table_names()):
        return "new"
    return "behind"


def state(db: Database, branch: str) -> State:
    with db.engine.connect() as connection:
        return _state(connection, branch)


def upgrade(db: Database, branch: str) -> tuple[str | None, str]:
    """Migrate `branch` to the code's revision, keeping every row; returns (from, to)."""
    with _migrating(db) as connection:
        before = _current(connection, branch)
        connection.rollback()  # end the read's transaction: the migration runs in its own
        if before != head(branch):
            with connection.begin():
                command.upgrade(alembic_config(connection), f"{branch}@head")
    return before, head(branch)


def ensure_current(db: Database, branch: str) -> None:
    """Create the tables of a new database; refuse one that is behind."""
    if state(db, branch) == "current":
        return
    with _migrating(db) as connection:  # another process may be creating them: wait for it, then look again
        found = _state(connection, branch)
        connection.rollback()
        if found == "new":
            with connection.begin():
                command.upgrade(alembic_config(connection), f"{branch}@head")
            return
    if found == "behind":
        revision = current(db, branch)
        found_at = f"is at revision {revision}" if revision else "was made before schema migrations existed"
        raise SchemaBehind(f"the {branch} database ({_where(db)}) {found_at}; this version of the service needs "
                           f"revision {head(branch)}: run `chatbot db upgrade` (it keeps every row)")


def history() -> list[dict[str, Any]]:
    """Every migration, oldest first, per branch."""
    rows = []
    for branch in BRANCHES:
        for revision in reversed(list(_script().iterate_revisions(f"{branch}@head", "base"))):
            rows.append({"branch": branch, "revision": revision.revision, "down_revision": revision.down_revision,
                         "message": (revision.doc or "").strip()})
    return rows


def _where(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=True)


@contextmanager
def _migrating(db: Database) -> Iterator[Connection]:
    """A connection for migrations (transactional, not autocommit), held by one migrator at a time."""
    isolation = "READ COMMITTED" if db.backend == "postgresql" else "SERIALIZABLE"
    with db.engine.connect().execution_options(isolation_level=isolation) as connection:
        if db.backend == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                connection.commit()
            return
        lock_path = Path(db.url.removeprefix("sqlite:///") + ".migrate.lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield connection
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
