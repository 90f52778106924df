"""Generate the environment table of `docs/operations.md` from the settings model."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from forkable.settings.fields import accepted_range, shown_default, variable_names
from forkable.settings.model import Settings

BEGIN = (
    "<!-- BEGIN settings table: generated from src/forkable/settings/ by "
    "`python -m forkable.settings.docs docs/operations.md` -->"
)
END = "<!-- END settings table -->"

# Variables no field reads any more, kept in the table so an operator who sets them knows.
_UNREAD = {
    "FORKABLE_SECRET_KEY": (
        "not used (see [the production guard](#the-production-guard)); may stay set",
        "none",
    ),
}


def _names(info: FieldInfo) -> str:
    first, *fallbacks = variable_names(info)
    cell = f"`{first}`"
    if fallbacks:
        cell += " (or " + ", then ".join(f"`{name}`" for name in fallbacks) + ")"
    return cell


def _meaning(info: FieldInfo) -> str:
    meaning = info.description or ""
    accepted = accepted_range(info)
    return f"{meaning}; {accepted}" if accepted else meaning


def _default(info: FieldInfo) -> str:
    shown = shown_default(info)
    if shown is not None:
        return shown
    value = info.default
    if value is None or value is PydanticUndefined:
        return "none"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def render_table() -> str:
    """The environment table as Markdown, one row per variable (fallback names with it)."""
    rows = ["| variable | meaning | default |", "| --- | --- | --- |"]
    for info in Settings.model_fields.values():
        cells = (_names(info), _meaning(info), _default(info))
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    rows.extend(
        f"| `{name}` | {meaning} | {default} |" for name, (meaning, default) in _UNREAD.items()
    )
    return "\n".join(rows) + "\n"


def rewrite(page: str) -> str:
    """``page`` with the text between the two markers replaced by the current table."""
    head, begin, rest = page.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the page has no {BEGIN!r} ... {END!r} section")
    return f"{head}{BEGIN}\n{render_table()}{END}{tail}"


def main(argv: list[str] | None = None) -> None:
    """Rewrite the table in the page given, or print the table."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        path = Path(args[0])
        path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(render_table())


if __name__ == "__main__":
    main()
