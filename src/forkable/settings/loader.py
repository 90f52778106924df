"""Build the settings from an environment mapping, reporting every problem at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from forkable.settings.alerts import alert_combination_problems
from forkable.settings.errors import SettingsError
from forkable.settings.fields import PROBLEM, accepted_range, variable_names
from forkable.settings.model import Settings
from forkable.settings.payments import payment_combination_problems
from forkable.settings.source import MappingEnvSource

# What pydantic reports when a number does not parse or falls outside the field's bounds.
_NUMBER_ERRORS = {
    "float_parsing",
    "int_parsing",
    "int_from_float",
    "finite_number",
    "greater_than",
    "greater_than_equal",
    "less_than_equal",
}


def _field_for(name: str) -> FieldInfo | None:
    for info in Settings.model_fields.values():
        if name in variable_names(info):
            return info
    return None


def _problem_line(error: ErrorDetails) -> str | None:
    """One line naming the variable, or None when the error only echoes another one."""
    if error["type"] == "default_factory_not_called":
        return None  # a field it depends on is wrong, and that one is reported
    name = str(error["loc"][0])
    if error["type"] == PROBLEM:
        message = error["msg"]
        return f"{name}{message}" if message.startswith(":") else f"{name} {message}"
    if error["type"] == "literal_error":
        expected = (error.get("ctx") or {}).get("expected")
        return f"{name} must be {expected}, not {error['input']!r}"
    info = _field_for(name)
    accepted = accepted_range(info) if info is not None else None
    if error["type"] in _NUMBER_ERRORS and accepted:
        return f"{name} must be {accepted}, not {error['input']!r}"
    return f"{name}: {error['msg']}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default)."""
    env_map: Mapping[str, str] = os.environ if environ is None else environ
    values: dict[str, Any] = MappingEnvSource(Settings, env_map)()
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        lines = (_problem_line(detail) for detail in error.errors())
        problems.extend(line for line in lines if line is not None)
    problems += payment_combination_problems(values)
    problems += alert_combination_problems(values)
    if problems or settings is None:
        raise SettingsError(problems)
    return settings
