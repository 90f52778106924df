"""Alembic environment: runs on the connection handed over by forkable.db.migrate."""

from alembic import context
from sqlalchemy import Connection

from forkable.db.models import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run(context.config.attributes["connection"])
