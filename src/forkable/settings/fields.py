"""How a settings field is declared: its variable names, meaning, bounds and parsing helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from annotated_types import Ge, Le
from pydantic import AliasChoices, Field
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

# The error type of every problem a settings validator words itself.
PROBLEM = "settings_problem"


def variable(
    *names: str,
    meaning: str,
    default: Any = None,
    default_factory: Callable[[dict[str, Any]], Any] | None = None,
    shown_default: str | None = None,
    **constraints: Any,
) -> Any:
    """A field read from the variable ``names[0]``, falling back to the other names in order."""
    alias: str | AliasChoices = names[0] if len(names) == 1 else AliasChoices(*names)
    extra: JsonDict | None = {"shown_default": shown_default} if shown_default else None
    if default_factory is not None:
        return Field(
            default_factory=default_factory,
            validation_alias=alias,
            description=meaning,
            json_schema_extra=extra,
            **constraints,
        )
    return Field(
        default, validation_alias=alias, description=meaning, json_schema_extra=extra, **constraints
    )


def variable_names(info: FieldInfo) -> list[str]:
    """The variables a field is read from, the winning one first."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [str(alias)] if alias else []


def shown_default(info: FieldInfo) -> str | None:
    """The default as the docs word it, when the value alone would not say it."""
    extra = info.json_schema_extra
    if isinstance(extra, dict):
        shown = extra.get("shown_default")
        return shown if isinstance(shown, str) else None
    return None


def accepted_range(info: FieldInfo) -> str | None:
    """What a numeric field accepts, worded for an error line and the docs alike."""
    low = next((item.ge for item in info.metadata if isinstance(item, Ge)), None)
    high = next((item.le for item in info.metadata if isinstance(item, Le)), None)
    if low is None or high is None:
        return None
    if info.annotation is int:
        return f"a whole number from {low} to {high}"
    return f"a number of seconds from {float(low):g} to {float(high):g}"  # type: ignore[arg-type]


def problem(text: str) -> PydanticCustomError:
    """A problem worded after the variable's name (`: ...` when it follows the name directly)."""
    # No context is given, so pydantic leaves any braces in the text alone.
    return PydanticCustomError(PROBLEM, text)


def lowered(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def on_off(value: Any) -> Any:
    """`on` or `off` (any case) as a boolean."""
    if not isinstance(value, str):
        return value
    switch = value.lower()
    if switch not in ("on", "off"):
        raise problem(f"must be 'on' or 'off', not {switch!r}")
    return switch == "on"


def comma_list(value: Any) -> Any:
    """A comma-separated list, blank entries left out."""
    if not isinstance(value, str):
        return value
    return [part.strip() for part in value.split(",") if part.strip()]


def address_list(value: Any) -> Any:
    """Lower-cased e-mail addresses separated by commas or spaces, sorted."""
    if not isinstance(value, str):
        return value
    return sorted({address.lower() for address in re.split(r"[,\s]+", value) if address})
