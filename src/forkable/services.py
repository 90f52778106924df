"""The long-lived services of one app, built once and reached through ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from forkable.db import Database
from forkable.settings import Settings
from forkable.sites import SiteRegistry


@dataclass
class Services:
    """What routes depend on; tests build several side by side."""

    settings: Settings
    database: Database
    sites: SiteRegistry
