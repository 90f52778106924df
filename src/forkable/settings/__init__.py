"""Environment settings: infrastructure and secrets, read in this package only."""

from __future__ import annotations

from forkable.settings.alerts import AlertsMode
from forkable.settings.errors import SettingsError
from forkable.settings.guard import (
    MIN_OPERATOR_TOKEN_LENGTH,
    check_production,
    shared_limits_problem,
    site_payment_problems,
)
from forkable.settings.loader import load_settings
from forkable.settings.model import Settings
from forkable.settings.monitoring import LogFormat
from forkable.settings.payments import PaymentsMode, stripe_env_suffix
from forkable.settings.process import Environment
from forkable.settings.storage import MediaMode, normalise_database_url

__all__ = [
    "MIN_OPERATOR_TOKEN_LENGTH",
    "AlertsMode",
    "Environment",
    "LogFormat",
    "MediaMode",
    "PaymentsMode",
    "Settings",
    "SettingsError",
    "check_production",
    "load_settings",
    "normalise_database_url",
    "shared_limits_problem",
    "site_payment_problems",
    "stripe_env_suffix",
]
