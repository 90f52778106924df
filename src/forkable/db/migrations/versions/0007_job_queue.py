"""The job queue's tables (Procrastinate), on PostgreSQL only.

Revision ID: 0007
Revises: 0006

Procrastinate keeps its jobs, locks and periodic-task records in tables, functions and triggers
of its own, applied here so that `forkable db upgrade` is the one step that prepares a
database. SQLite (the embedded default) runs jobs in process and needs none of it. A later
Procrastinate release that changes its schema ships migration files
(`procrastinate/sql/migrations`); they are applied by a revision of ours, which is why the
dependency is pinned to one minor release in pyproject.toml.
"""

from __future__ import annotations

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # On psycopg's own connection (the migration's transaction): a script without parameters
    # goes as one simple query, several statements at once, its percent signs left alone.
    driver_connection = op.get_bind().connection.driver_connection
    if driver_connection is None:  # a live connection, inside the migration
        raise RuntimeError("the migration has no database connection")
    driver_connection.execute(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tablename FROM pg_tables
                WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%' LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%' LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN SELECT typname FROM pg_type t
                JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = current_schema() AND typname LIKE 'procrastinate%'
                AND t.typtype IN ('e', 'c') LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END $$;
        """
    )
