"""The `forkable` command: thin wrappers over the package's modules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from forkable import __version__
from forkable.cli.output import fail
from forkable.manifest import ManifestError
from forkable.settings import SettingsError

app = typer.Typer(
    name="forkable",
    help="Run AI image-modification websites from a site.toml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="Token balances.", no_args_is_help=True)
ledger_app = typer.Typer(help="The token ledger.", no_args_is_help=True)
payments_app = typer.Typer(help="Payments.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(ledger_app, name="ledger")
app.add_typer(payments_app, name="payments")
SiteOption = Annotated[
    str | None,
    typer.Option("--site", help="Site id; optional when the database holds one site."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"forkable {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Run AI image-modification websites from a site.toml."""


@app.command()
def serve(
    path: Annotated[
        Path | None,
        typer.Argument(help="A site folder or a folder of site folders.", show_default=False),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
) -> None:
    """Serve one site, or every site in a folder of sites (routed by host name)."""
    from forkable.cli.serve import run_server

    run_server(path, host=host, port=port, workers=workers)


@app.command()
def check(
    paths: Annotated[list[Path], typer.Argument(help="Site folders or folders of sites.")],
) -> None:
    """Validate manifests and assets; print every problem as PATH:LINE: key.path: message."""
    from forkable.cli.check import run_check

    raise typer.Exit(run_check(paths))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations."""
    from forkable.cli.database import run_upgrade

    run_upgrade(revision)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="E-mail address of the new user.")],
    site: SiteOption = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from standard input; "
            "otherwise one is generated and printed once.",
        ),
    ] = False,
) -> None:
    """Create a user (CLI-created users start with 0 tokens)."""
    from forkable.cli.accounts import run_create_user

    run_create_user(email, site, admin, password_stdin)


@tokens_app.command("grant", context_settings={"ignore_unknown_options": True})
def tokens_grant(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    amount: Annotated[int, typer.Argument(help="Tokens to grant; negative revokes.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the ledger.")],
    site: SiteOption = None,
) -> None:
    """Grant (or, with a negative AMOUNT, revoke) tokens; recorded in the ledger."""
    from forkable.cli.accounts import run_grant

    run_grant(email, amount, reason, site)


@ledger_app.command("verify")
def ledger_verify(site: SiteOption = None) -> None:
    """Recompute every balance from the entries; exit 1 listing each violation."""
    from forkable.cli.ledger import run_verify

    raise typer.Exit(run_verify(site))


@payments_app.command("reconcile")
def payments_reconcile(
    since: Annotated[
        str, typer.Option("--since", help="How far back: a duration (3d, 12h) or a date.")
    ] = "3d",
) -> None:
    """Credit paid Stripe sessions that no webhook credited; safe to run any number of times."""
    from forkable.cli.payments import run_reconcile

    run_reconcile(since)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    try:
        app(args=argv, prog_name="forkable", standalone_mode=True)
    except SettingsError as exc:
        fail(*exc.problems)
    except ManifestError as exc:
        fail(*(str(p) for p in exc.problems))
    sys.exit(0)
