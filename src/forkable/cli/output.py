"""How the CLI speaks: one line per problem on stderr, no tracebacks for user errors."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def fail(*lines: str, code: int = 1) -> NoReturn:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    sys.exit(code)
