"""The settings model: every topic group in one flat, frozen object."""

from __future__ import annotations

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from forkable.settings.alerts import AlertSettings
from forkable.settings.mail import MailSettings
from forkable.settings.monitoring import LogFormat, MonitoringSettings
from forkable.settings.payments import PaymentSettings
from forkable.settings.process import ProcessSettings
from forkable.settings.providers import ProviderSettings
from forkable.settings.storage import StorageSettings


# The groups declare the fields by topic; the model stays flat so that code reads
# `settings.workers` and builds `Settings(workers=3)` without knowing the groups. Fields keep
# the order of the groups from the last base to the first (the order of the docs table and of
# the problems reported): a default that depends on another field (media on serverless,
# payments on the Stripe keys) comes after it.
class Settings(
    BaseSettings,
    AlertSettings,
    MailSettings,
    MonitoringSettings,
    PaymentSettings,
    ProviderSettings,
    StorageSettings,
    ProcessSettings,
):
    """Everything the process takes from its environment, resolved and typed."""

    # Unknown names are ignored, as an environment holds many variables that are not ours.
    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        case_sensitive=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values passed in: `load_settings` hands over the environment it was given."""
        return (init_settings,)

    @property
    def resolved_log_format(self) -> LogFormat:
        """JSON lines for log collectors in production, readable lines in development."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.is_production else "text"
