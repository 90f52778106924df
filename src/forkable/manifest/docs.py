"""Generate the manifest reference (`docs/manifest.md`) from the schema."""

from __future__ import annotations

import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from forkable.manifest.schema import Manifest

_INTRO = """\
# The site manifest: `site.toml`

One `site.toml` describes a whole site. It is TOML; unknown keys are errors, so a typo is
caught by `forkable check`, which reports every problem at once as
`PATH:LINE: key.path: message`. Secrets never live here: they come from the environment
(see [operations.md](operations.md)).

Every string is one line of printable text: control characters (line breaks, tabs, escape
codes) are refused, because names and taglines are written into generated Dockerfiles,
workflows and `.env.example`. Prompts are the exception: they may span lines and hold tabs.
Asset paths name files and folders with letters, digits, `.`, `_` and `-`.

This page is generated from the schema in `src/forkable/manifest/schema.py` by
`python -m forkable.manifest.docs > docs/manifest.md`; a test fails when it is stale.
"""


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in (types.UnionType, typing.Union):
        names = [_type_name(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return "array of tables"
        return f"array of {_type_name(item)}"
    if origin is dict:
        return "table"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "defaults"
        return f"`{value!r}`" if value not in ([], {}) else "empty"
    if info.default is None or info.default is PydanticUndefined:
        return "none"
    value = info.default
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`".replace("True", "true").replace("False", "false")


def _constraints(info: FieldInfo) -> str:
    parts: list[str] = []
    for item in info.metadata:
        for attr, symbol in (
            ("gt", ">"),
            ("ge", ">="),
            ("lt", "<"),
            ("le", "<="),
            ("max_length", "length <="),
        ):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return f" ({', '.join(parts)})" if parts else ""


def _table_models(model: type[BaseModel], prefix: str) -> list[tuple[str, type[BaseModel], bool]]:
    found: list[tuple[str, type[BaseModel], bool]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        is_array = get_origin(annotation) is list
        inner = get_args(annotation)[0] if is_array else annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            path = f"{prefix}.{name}" if prefix else name
            found.append((path, inner, is_array))
            found.extend(_table_models(inner, path))
    return found


def render() -> str:
    """The whole reference page as Markdown."""
    lines = [_INTRO]
    for path, model, is_array in _table_models(Manifest, ""):
        header = f"[[{path}]]" if is_array else f"[{path}]"
        required = Manifest.model_fields.get(path)
        note = " (required)" if required is not None and required.is_required() else ""
        lines.append(f"## `{header}`{note}\n")
        lines.append(f"{inspect.cleandoc(model.__doc__ or '')}\n")
        lines.append("| key | type | default | meaning |")
        lines.append("| --- | --- | --- | --- |")
        for name, info in model.model_fields.items():
            annotation = info.annotation
            inner = get_args(annotation)[0] if get_origin(annotation) is list else annotation
            description = (info.description or "").replace("|", "\\|")
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                description += f" See `[[{path}.{name}]]` below."
            lines.append(
                f"| `{name}` | {_type_name(annotation)}{_constraints(info)} | "
                f"{_default(info)} | {description} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    """Print the reference, or write it to the path given."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
