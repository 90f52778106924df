"""Line numbers for key paths in a TOML document, so errors can point at the right line.

tomllib returns plain data without positions, so this module scans the text once and records
where each table header and each key lives. It understands the TOML that people write in a
manifest: tables, arrays of tables, dotted keys, quoted keys and multi-line strings and arrays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

KeyPath = tuple[str | int, ...]

_BARE_KEY = r"[A-Za-z0-9_-]+"
_QUOTED_KEY = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY_PART = rf"(?:{_BARE_KEY}|{_QUOTED_KEY})"
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED_KEY})\s*\]\]?")
_ASSIGNMENT = re.compile(rf"^\s*({_DOTTED_KEY})\s*=")
_KEY_SPLIT = re.compile(_KEY_PART)


def _split_key(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in _KEY_SPLIT.findall(dotted))


class LineIndex:
    """Maps key paths like ``("pricing", "packs", 1, "tokens")`` to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        # TOML ends lines at "\n" only; splitlines() would also split at "\r", "\x85",
        # "\u2028" and others, which a manifest may hold in comments and strings.
        self._scan(text.split("\n"))

    def line_of(self, path: Sequence[str | int]) -> int:
        """The line of the deepest known prefix of ``path``; 1 when nothing matches."""
        key = tuple(path)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return 1

    def _record(self, path: KeyPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def _scan(self, lines: Sequence[str]) -> None:
        table: KeyPath = ()
        array_counts: dict[KeyPath, int] = {}
        open_string: str | None = None  # the delimiter of a multi-line string we are inside
        bracket_depth = 0  # inside a multi-line array value
        for number, raw in enumerate(lines, start=1):
            if open_string is not None:
                if raw.count(open_string) % 2 == 1:
                    open_string = None
                continue
            if bracket_depth > 0:
                bracket_depth += _bracket_balance(raw)
                continue
            header = _HEADER.match(raw)
            if header:
                names = _split_key(header.group(2))
                if header.group(1) == "[[":
                    parent = self._resolve(names, array_counts)
                    index = array_counts.get(parent, 0)
                    array_counts[parent] = index + 1
                    self._record(parent, number)
                    table = (*parent, index)
                else:
                    table = self._resolve(names, array_counts)
                self._record(table, number)
                continue
            assignment = _ASSIGNMENT.match(raw)
            if not assignment:
                continue
            key = (*table, *_split_key(assignment.group(1)))
            self._record(key, number)
            value = raw[assignment.end() :]
            for delimiter in ('"""', "'''"):
                if value.count(delimiter) % 2 == 1:
                    open_string = delimiter
                    break
            else:
                bracket_depth = max(_bracket_balance(value), 0)

    def _resolve(self, names: tuple[str, ...], array_counts: dict[KeyPath, int]) -> KeyPath:
        """Resolve a header's names, descending into the latest element of arrays of tables."""
        path: KeyPath = ()
        last = len(names) - 1
        for position, name in enumerate(names):
            path = (*path, name)
            count = array_counts.get(path)
            if count is not None and position < last:
                path = (*path, count - 1)
        return path


def _bracket_balance(text: str) -> int:
    """Open minus closed brackets outside strings and comments, for multi-line arrays."""
    balance = 0
    quote: str | None = None
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance
