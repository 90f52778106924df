"""Loading alert rules: the shipped defaults merged with a deployment's file, with line numbers."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from forkable.manifest.loader import format_key
from forkable.manifest.locate import LineIndex
from forkable.monitoring.alerts.rule import Rule
from forkable.monitoring.alerts.signals import SIGNALS
from forkable.settings import SettingsError

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.toml")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


def load_rules(path: Path | None = None) -> list[Rule]:
    """The shipped rules, with the deployment's file (if any) merged over them."""
    base, base_index = _read(DEFAULT_RULES_FILE)
    tables: dict[str, dict[str, Any]] = dict(base)
    # Problems point into the file that last touched the rule: the deployment's, if it did.
    where = dict.fromkeys(base, (DEFAULT_RULES_FILE, base_index))
    if path is not None:
        overrides, index = _read(path)
        for name, table in overrides.items():
            tables[name] = {**tables.get(name, {}), **table}
            where[name] = (path, index)
    problems: list[tuple[str, int, str]] = []
    rules: list[Rule] = []
    for name, table in tables.items():
        rule = _validate(name, table, *where[name], problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise SettingsError([f"{file}:{line}: {text}" for file, line, text in sorted(problems)])
    return rules


def _read(path: Path) -> tuple[dict[str, dict[str, Any]], LineIndex]:
    """The `[rules.NAME]` tables of one file; anything else is a problem with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError([f"{path}: cannot read the alert rules: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.search(str(exc))
        line = match.group(1) if match else "1"
        message = _TOML_POSITION.sub("", str(exc)).strip()
        raise SettingsError([f"{path}:{line}: invalid TOML: {message}"]) from None
    index = LineIndex(text)
    problems = [
        f"{path}:{index.line_of((key,))}: {key}: unknown key (rules go in [rules.NAME] tables)"
        for key in data
        if key != "rules"
    ]
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        problems.append(f"{path}:{index.line_of(('rules',))}: rules: expected [rules.NAME] tables")
        rules = {}
    for name, table in rules.items():
        if not isinstance(table, dict):
            line = index.line_of(("rules", name))
            problems.append(f"{path}:{line}: rules.{name}: expected a table of settings")
    if problems:
        raise SettingsError(problems)
    return rules, index


def _validate(
    name: str,
    table: Mapping[str, Any],
    path: Path,
    index: LineIndex,
    problems: list[tuple[str, int, str]],
) -> Rule | None:
    """The rule, or None after appending what is wrong with it (file, line, text)."""

    def problem(key: tuple[str | int, ...], message: str) -> None:
        loc = ("rules", name, *key)
        problems.append((str(path), index.line_of(loc), f"{format_key(loc)}: {message}"))

    if not _NAME.match(name):
        problem((), "rule names are lowercase letters, digits and underscores")
        return None
    if "name" in table:
        problem(("name",), "unknown key (the table's name is the rule's name)")
        return None
    data = {"signal": name, **table, "name": name}
    try:
        rule = Rule.model_validate(data)
    except ValidationError as exc:
        for message, loc in _messages(exc):
            problem(loc, message)
        return None
    for key, message in _signal_problems(rule):
        problem(key, message)
    return rule


def _messages(exc: ValidationError) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        kind = error["type"]
        if kind == "extra_forbidden":
            yield "unknown key (see the rules table in docs/operations.md)", loc
        elif kind == "missing":
            yield "required key is missing", loc
        else:
            yield str(error["msg"]).removeprefix("Value error, "), loc


def _signal_problems(rule: Rule) -> Iterator[tuple[tuple[str, ...], str]]:
    signal = SIGNALS.get(rule.signal)
    if signal is None:
        known = ", ".join(sorted(SIGNALS))
        yield ("signal",), f"unknown signal {rule.signal!r} (known: {known})"
        return
    if rule.per_site and not signal.per_site:
        yield ("per_site",), f"{rule.signal} is measured for the whole deployment only"
    if not rule.per_site and not signal.deployment:
        yield ("per_site",), f"{rule.signal} is measured per site only: set per_site = true"
