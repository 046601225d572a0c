"""Alembic's environment: migrations run on the connection `app.ledgers.schema` hands over
(`chatbot db upgrade`, or a new database at start-up), never on one of their own."""

from alembic import context

from app.ledgers.schema import VERSION_TABLE
from app.ledgers.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("migrations run through `chatbot db upgrade`, which passes the connection")
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
