"""Media stored in the database itself: for serverless hosts, whose disk is not kept.

Fine for small sites (photos are re-encoded, a few hundred KB each); larger ones should use an
object store. Keys are the same as the local store's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, delete, select, text
from sqlalchemy.orm import Mapped, mapped_column

from forkable.db import Database
from forkable.db.base import Base
from forkable.db.types import utcnow
from forkable.storage.base import MissingMedia, checked_key


class MediaObject(Base):
    """One stored file. `site_id` is the first part of the key."""

    __tablename__ = "media_objects"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40), ForeignKey("sites.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatabaseMediaStore:
    """Puts, gets and deletes media rows; a put replaces the object under the same key."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def put(self, key: str, data: bytes, content_type: str) -> None:
        site_id = checked_key(key).split("/", 1)[0]
        with self.database.transaction() as session:
            session.execute(delete(MediaObject).where(MediaObject.key == key))
            session.add(
                MediaObject(
                    key=key, site_id=site_id, content_type=content_type, size=len(data), data=data
                )
            )

    def get(self, key: str) -> bytes:
        with self.database.session() as session:
            data = session.scalar(
                select(MediaObject.data).where(MediaObject.key == checked_key(key))
            )
        if data is None:
            raise MissingMedia(key)
        return data

    def delete(self, key: str) -> None:
        with self.database.transaction() as session:
            session.execute(delete(MediaObject).where(MediaObject.key == checked_key(key)))

    def check(self) -> None:
        with self.database.session() as session:
            session.execute(text("SELECT 1"))
