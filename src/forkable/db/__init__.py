"""The database: engine and sessions, models, migrations."""

from forkable.db.engine import Database

__all__ = ["Database"]
