"""Alert state, kept in the database so the serving process and cron agree on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forkable.db.base import Base
from forkable.db.types import utcnow


class AlertState(Base):
    """The current state of one alert rule (per site where the rule is per site)."""

    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)  # rule name[:site id]
    # Alerts may be deployment-wide; when set, the site the alert is about.
    site_id: Mapped[str | None] = mapped_column(String(40), default=None)
    rule: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | pending | firing
    value: Mapped[float | None] = mapped_column(default=None)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    last_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
