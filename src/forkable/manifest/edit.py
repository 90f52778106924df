"""Style-preserving edits of `site.toml`: set key paths, keep every comment and the layout.

Forks change a few values of a manifest that people wrote by hand; tomlkit keeps the text
around those values (comments, blank lines, key order, string styles) exactly as it was.
"""

from __future__ import annotations

import re
import tomllib
import types
from typing import Annotated, Any, Union, get_args, get_origin

import tomlkit
from pydantic import BaseModel
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import (
    AoT,
    Array,
    InlineTable,
    Item,
    String,
    StringType,
    Table,
    Whitespace,
)

from forkable.manifest.loader import format_key
from forkable.manifest.schema import Manifest

KeyPath = tuple[str | int, ...]
_PART = re.compile(r'\.?(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)")|\[(\d+)\]')
_WRAP_WIDTH = 88  # the width of the hand-wrapped prompts in the examples


class EditError(ValueError):
    """A key path or value that cannot be applied; the message is one line for the user."""


def parse_path(text: str) -> KeyPath:
    """``pricing.packs[0].price_cents`` -> ``("pricing", "packs", 0, "price_cents")``."""
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None or (match.group(0).startswith(".") and not parts):
            raise EditError(f"{text!r} is not a key path such as pricing.packs[0].price_cents")
        bare, quoted, index = match.groups()
        if index is not None:
            if not parts:
                raise EditError(f"{text!r} must start with a table name such as site or pricing")
            parts.append(int(index))
        else:
            if parts and not match.group(0).startswith("."):
                raise EditError(f"{text!r} is not a key path (a '.' is missing)")
            parts.append(bare if bare is not None else _unescape(quoted))
        position = match.end()
    if not parts:
        raise EditError("the key path is empty")
    return tuple(parts)


def _unescape(quoted: str) -> str:
    value: str = tomllib.loads(f'k = "{quoted}"')["k"]
    return value


def parse_assignment(text: str) -> tuple[KeyPath, str]:
    """Split ``KEY.PATH=VALUE`` (as given to ``--set``) into the path and the raw value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise EditError(f"{text!r} is not KEY.PATH=VALUE, e.g. pricing.signup_bonus=5")
    return parse_path(key.strip()), raw.strip()


def parse_value(raw: str, *, expects_text: bool = False) -> Any:
    """A TOML literal (``5``, ``true``, ``"Pet Pix"``, ``{}``), else the text itself.

    ``expects_text`` keeps bare words that happen to be TOML literals (``2024``, ``true``) as
    text, for keys whose value is a string anyway.
    """
    try:
        document = tomlkit.parse(f"value = {raw}\n")
    except (TOMLKitError, ValueError):
        return raw
    if list(document) != ["value"]:  # the text held more than one value
        return raw
    value = document["value"]
    if expects_text and not isinstance(value, str):
        return raw
    return value


def schema_check(path: KeyPath) -> bool:
    """Raise EditError when ``path`` names no key of the manifest; True when it holds text."""
    full = format_key(path)
    node: Any = Manifest
    for depth, part in enumerate(path):
        node = _unwrap(node)
        above = format_key(path[:depth]) or "the top level"
        if isinstance(node, type) and issubclass(node, BaseModel):
            if isinstance(part, int):
                raise EditError(f"{full}: {above} is a table, not a list")
            if part not in node.model_fields:
                known = ", ".join(node.model_fields)
                raise EditError(f"{full}: {above} has no key {part!r} (keys: {known})")
            node = node.model_fields[part].annotation
        elif get_origin(node) is list:
            if not isinstance(part, int):
                raise EditError(f"{full}: {above} is a list: pick an entry with [N]")
            node = get_args(node)[0]
        elif get_origin(node) is dict:
            if isinstance(part, int):
                raise EditError(f"{full}: {above} is a table, not a list")
            node = get_args(node)[1]
        else:
            raise EditError(f"{full}: {above} is a single value, not a table")
    leaf = _unwrap(node)
    if isinstance(leaf, type) and issubclass(leaf, BaseModel):
        first = next(iter(leaf.model_fields))
        raise EditError(f"{full} is a table: set its keys one by one, e.g. {full}.{first}")
    return leaf is str


def _unwrap(annotation: Any) -> Any:
    """``Annotated[str, ...] | None`` -> ``str``: the type a key path walks into."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


class ManifestEditor:
    """A `site.toml` text being edited; ``text()`` gives it back with only the values changed."""

    def __init__(self, text: str) -> None:
        try:
            self.document = tomlkit.parse(text)
        except TOMLKitError as exc:
            raise EditError(f"invalid TOML: {exc}") from None
        self._new_entries: list[Table] = []

    def text(self) -> str:
        for entry in self._new_entries:
            body = entry.value.body
            if body and not isinstance(body[-1][1], Whitespace):
                # Keep the blank line that separates an entry from the header after it.
                entry.add(tomlkit.nl())
        return self.document.as_string()

    def get(self, path: KeyPath) -> Any:
        """The value at ``path`` as plain data, or None when absent."""
        node: Any = self.document.unwrap()
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def set(self, path: KeyPath, value: Any) -> None:
        """Set ``path`` to ``value``, creating missing tables; the text style of strings stays."""
        parent = self._container(path)
        leaf = path[-1]
        if isinstance(leaf, int):
            raise EditError(f"{format_key(path)}: set a key of the entry, not the whole entry")
        old = parent.get(leaf) if isinstance(parent, Table | InlineTable | Container) else None
        parent[leaf] = _styled(value, old)

    def delete(self, path: KeyPath) -> None:
        """Remove the key at ``path`` if present."""
        parent = self._container(path, create=False)
        leaf = path[-1]
        if parent is not None and isinstance(leaf, str) and leaf in parent:
            del parent[leaf]

    def assign(self, assignment: str) -> KeyPath:
        """Apply one ``--set KEY.PATH=VALUE`` after checking the key exists in the schema."""
        path, raw = parse_assignment(assignment)
        expects_text = schema_check(path)
        self.set(path, parse_value(raw, expects_text=expects_text))
        return path

    def _container(self, path: KeyPath, *, create: bool = True) -> Any:
        """The table holding the last part of ``path``, created (when asked) as needed."""
        node: Any = self.document
        for depth, part in enumerate(path[:-1]):
            where = format_key(path[: depth + 1])
            if isinstance(part, int):
                if not isinstance(node, AoT | Array):
                    raise EditError(f"{where}: {format_key(path[:depth])} is not a list")
                if part == len(node) and create:
                    # One past the end appends an entry, so --set can add a pack or a style.
                    entry = tomlkit.table() if isinstance(node, AoT) else tomlkit.inline_table()
                    node.append(entry)
                    if isinstance(entry, Table):
                        self._new_entries.append(entry)
                elif part >= len(node):
                    count = len(node)
                    raise EditError(
                        f"{where}: {format_key(path[:depth])} has {count} "
                        f"entr{'y' if count == 1 else 'ies'} (use [0] to [{count}])"
                    )
                node = node[part]
                continue
            if not isinstance(node, Table | InlineTable | Container):
                raise EditError(f"{where}: {format_key(path[:depth])} is not a table")
            if part not in node:
                if not create:
                    return None
                # Top-level tables get a [header]; deeper ones stay inline next to their key.
                node[part] = tomlkit.table() if depth == 0 else tomlkit.inline_table()
            node = node[part]
        if not isinstance(node, Table | InlineTable | Container):
            raise EditError(f"{format_key(path)}: {format_key(path[:-1])} is not a table")
        return node


def _styled(value: Any, old: Any) -> Any:
    """``value`` as a TOML item, in the string style of the value it replaces."""
    if isinstance(value, Item) or not isinstance(value, str):
        return value
    if isinstance(old, String) and old.type in (StringType.MLB, StringType.MLL):
        return wrapped_string(value)
    if "\n" in value:
        return _checked(tomlkit.string(value, multiline=True), value)
    return tomlkit.string(value)


def wrapped_string(value: str, width: int = _WRAP_WIDTH) -> Item:
    """A multi-line basic string wrapped with line-ending backslashes, as people write prompts."""
    if "\n" in value or "\r" in value:
        return _checked(tomlkit.string(value, multiline=True), value)
    lines: list[str] = []
    current = ""
    # A line-ending backslash also eats the next line's leading blanks: break after blanks only.
    for word in re.findall(r"\S+\s*|\s+", _escape(value)):
        if current and len(current) + len(word) > width and current[-1].isspace():
            lines.append(current)
            current = word
        else:
            current += word
    lines.append(current)
    literal = '"""' + "\\\n".join(lines) + '"""'
    return _checked(tomlkit.parse(f"value = {literal}\n")["value"], value)


def _checked(item: Item, value: str) -> Item:
    """``item`` if it reads back as ``value``, else a one-line string with every escape."""
    # Multi-line strings lose a first newline and may normalise CRLF: some texts need escapes.
    if tomllib.loads(f"value = {item.as_string()}\n")["value"] == value:
        return item
    return tomlkit.string(value)


def _escape(value: str) -> str:
    out: list[str] = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)
