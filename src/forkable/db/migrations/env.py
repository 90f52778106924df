"""Alembic environment: runs on the connection handed over by forkable.db.migrate."""

from alembic import context
from sqlalchemy import Connection


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # Running migrations needs no models. Comparing them (autogenerate) does: whoever asks
        # passes forkable.schema's metadata, which sits above every domain (imports point down).
        target_metadata=context.config.attributes.get("target_metadata"),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run(context.config.attributes["connection"])
