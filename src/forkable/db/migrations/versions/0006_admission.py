"""admission: spend reserved per site and day, and per generation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from forkable.db.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spend_days",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reserved_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("spent_micro_usd", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_spend_days_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_spend_days")),
    )
    with op.batch_alter_table("generations") as batch:
        batch.add_column(
            sa.Column("reserved_micro_usd", sa.BigInteger(), nullable=False, server_default="0")
        )
    _count_todays_spend()


def _count_todays_spend() -> None:
    """Spend already reported today counts against today's cap from the first submit on."""
    today = datetime.now(UTC).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    generations = sa.table(
        "generations",
        sa.column("site_id", sa.String),
        sa.column("cost_usd", sa.Double),
        sa.column("created_at", UTCDateTime()),
    )
    rows = op.get_bind().execute(
        sa.select(generations.c.site_id, sa.func.sum(generations.c.cost_usd))
        .where(generations.c.created_at >= midnight, generations.c.cost_usd.is_not(None))
        .group_by(generations.c.site_id)
    )
    spend_days = sa.table(
        "spend_days",
        sa.column("site_id", sa.String),
        sa.column("day", sa.Date),
        sa.column("reserved_micro_usd", sa.BigInteger),
        sa.column("spent_micro_usd", sa.BigInteger),
    )
    values = [
        {
            "site_id": site_id,
            "day": today,
            "reserved_micro_usd": 0,
            "spent_micro_usd": round(float(spent or 0) * 1_000_000),
        }
        for site_id, spent in rows
    ]
    if values:
        op.bulk_insert(spend_days, values)


def downgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("reserved_micro_usd")
    op.drop_table("spend_days")
