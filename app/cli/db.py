"""`chatbot db ...`: the schema of the service's own tables (Alembic migrations).

`upgrade` migrates the ledger database (DATABASE_URL, or DATA_DIR/usage.sqlite) and the
conversation registry's (DATABASE_URL, or DATA_DIR/checkpoints.sqlite) to this version's
schema, keeping every row: the deployment's migration step, and what the service asks for
when it refuses to start on an older database. LangGraph's checkpoint tables migrate
themselves.
"""

from __future__ import annotations

import typer

from app.cli.common import settings_or_exit

db = typer.Typer(help="The schema of the service's own tables.", no_args_is_help=True)


def _databases():
    """(branch, Database) for each schema branch, on the configured databases."""
    from app.ledgers.database import Database

    settings = settings_or_exit()
    urls = {"ledgers": settings.ledger_url, "conversations": settings.checkpoint_url}
    return [(branch, Database(url)) for branch, url in urls.items()]


@db.command()
def upgrade() -> None:
    """Migrate every database of the service to this version's schema (safe to run again)."""
    from app.ledgers import schema

    for branch, database in _databases():
        try:
            found = schema.state(database, branch)
            before, after = schema.upgrade(database, branch)
        finally:
            database.close()
        where = database.engine.url.render_as_string(hide_password=True)
        if before == after:
            print(f"{branch}: at {after}, nothing to do ({where})")
        elif found == "new":
            print(f"{branch}: created at {after} ({where})")
        else:
            print(f"{branch}: {before or 'made before migrations'} -> {after} ({where})")


@db.command()
def current() -> None:
    """Each database's revision, and whether this version of the service can run on it."""
    from app.ledgers import schema

    behind = False
    for branch, database in _databases():
        try:
            revision, state = schema.current(database, branch), schema.state(database, branch)
        finally:
            database.close()
        behind = behind or state == "behind"
        note = {"current": "current", "new": "empty: created at start", "behind":
                f"behind: run `chatbot db upgrade` (this version needs {schema.head(branch)})"}[state]
        print(f"{branch}: {revision or '-'} ({note})")
    if behind:
        raise typer.Exit(1)


@db.command()
def history() -> None:
    """The migrations, oldest first, per branch."""
    from app.ledgers import schema

    for row in schema.history():
        print(f"{row['branch']}: {row['down_revision'] or 'base'} -> {row['revision']}  {row['message']}")
