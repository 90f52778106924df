"""Where data lives: the data folder, the database, Redis, media."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator

from forkable.settings.fields import lowered, variable

MediaMode = Literal["local", "database"]


def normalise_database_url(url: str) -> str:
    """Map the URLs hosting platforms hand out onto SQLAlchemy's psycopg 3 dialect."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _default_media(earlier: dict[str, Any]) -> MediaMode:
    """A serverless host keeps no disk, so media goes to the database there."""
    return "database" if earlier.get("serverless") else "local"


class StorageSettings(BaseModel):
    """Where data lives: the data folder, the database, Redis, media."""

    data_dir: Path = variable(
        "FORKABLE_DATA_DIR",
        meaning="SQLite file and media",
        default=Path("var"),
        shown_default="`./var`",
    )
    database_url: str | None = variable(
        "FORKABLE_DATABASE_URL",
        "DATABASE_URL",
        "POSTGRES_URL",
        meaning="SQLAlchemy URL (`postgres://` URLs are mapped to psycopg 3)",
        shown_default="SQLite in the data dir",
    )
    redis_url: str | None = variable(
        "FORKABLE_REDIS_URL",
        "REDIS_URL",
        "KV_URL",
        meaning="Redis for the cache and rate limits",
        shown_default="none: in-process cache and limits",
    )
    media: Annotated[MediaMode, BeforeValidator(lowered)] = variable(
        "FORKABLE_MEDIA",
        meaning="where photos and results live: `local` (the data dir) or `database`",
        default_factory=_default_media,
        shown_default="`local`; `database` on serverless hosts",
    )

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, with the embedded SQLite file in the data dir as the default."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'forkable.sqlite3').resolve()}"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
