"""Read the settings fields from one environment mapping, never from anywhere else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_settings import BaseSettings, EnvSettingsSource

from forkable.settings.payments import PER_SITE_PREFIXES
from forkable.settings.storage import AWS_PREFIX


def _per_site(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    """``PREFIX__<SITE>`` variables, by their upper-cased site suffix."""
    found: dict[str, str] = {}
    for name, value in environ.items():
        suffix = name[len(prefix) + 2 :] if name.startswith(prefix + "__") else ""
        if suffix:
            found[suffix.upper()] = value
    return found


class MappingEnvSource(EnvSettingsSource):
    """The variables of ``environ`` that name a field; blank values count as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        # Values are trimmed first, so a blank one lets the next fallback name win.
        self.environ = {name: value.strip() for name, value in environ.items() if value.strip()}
        super().__init__(settings_cls, case_sensitive=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self.environ

    def __call__(self) -> dict[str, Any]:
        """Field values keyed by the variable each came from (by field name for per-site ones)."""
        values = super().__call__()
        for field_name, prefix in PER_SITE_PREFIXES.items():
            values[field_name] = _per_site(self.environ, prefix)
        values["aws_environment"] = {
            name: value for name, value in self.environ.items() if name.startswith(AWS_PREFIX)
        }
        return values
