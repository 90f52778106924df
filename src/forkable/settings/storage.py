"""Where data lives: the data folder, the database, Redis, media."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator

from forkable.settings.fields import lowered, problem, variable
from forkable.settings.media_url import MediaLocation, media_url_problem, parse_media_url

MediaMode = Literal["local", "database"]


def normalise_database_url(url: str) -> str:
    """Map the URLs hosting platforms hand out onto SQLAlchemy's psycopg 3 dialect."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# The variables an S3 client reads (credentials, region, endpoint), taken from the environment
# given to the settings and handed to the client, so nothing reads the process environment.
AWS_PREFIX = "AWS_"


def _usable_media_url(url: str | None) -> str | None:
    wrong = media_url_problem(url)
    if wrong:
        raise problem(f": {wrong}")
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
        meaning="the older switch for media: `local` (the data dir) or `database` "
        "(`FORKABLE_MEDIA_URL` wins when both are set)",
        default_factory=_default_media,
        shown_default="`local`; `database` on serverless hosts",
    )
    media_url: Annotated[str | None, AfterValidator(_usable_media_url)] = variable(
        "FORKABLE_MEDIA_URL",
        meaning="where photos and results live: `file:///abs/path`, `s3://bucket/prefix` "
        "(S3, R2, MinIO) or `db:` (the database, for serverless hosts)",
        shown_default="`media/` in the data dir (`FORKABLE_MEDIA`)",
    )
    aws_environment: dict[str, str] = variable(
        "AWS_*",
        meaning="the standard AWS variables for an `s3://` media URL: `AWS_ACCESS_KEY_ID`, "
        "`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, "
        "`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`",
        default_factory=lambda _: {},
        shown_default="AWS's own defaults",
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
    def media_location(self) -> MediaLocation:
        """Where media live: the URL if given, else what `FORKABLE_MEDIA` says."""
        url = self.media_url or ("db:" if self.media == "database" else None)
        return parse_media_url(url, data_dir=self.data_dir)

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
