"""The declarative base every model shares, and the `sites` table they hang from."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from forkable.db.types import UTCDateTime, utcnow

# Stable constraint names, so migrations can refer to them on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SITE_ID_LENGTH = 40


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class SiteRow(Base):
    """A site known to this database; its manifest is the source of its settings."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(SITE_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def site_id_column() -> Mapped[str]:
    """The `site_id` column of every site-owned table."""
    return mapped_column(String(SITE_ID_LENGTH), ForeignKey("sites.id"), index=True)
