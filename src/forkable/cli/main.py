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
alerts_app = typer.Typer(help="Alert rules and channels.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(ledger_app, name="ledger")
app.add_typer(payments_app, name="payments")
app.add_typer(alerts_app, name="alerts")
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
    no_jobs: Annotated[
        bool,
        typer.Option(
            "--no-jobs",
            help="Serve HTTP only: generations go to the shared queue for `forkable worker` "
            "processes (PostgreSQL).",
        ),
    ] = False,
) -> None:
    """Serve one site, or every site in a folder of sites (routed by host name)."""
    from forkable.cli.serve import run_server

    run_server(path, host=host, port=port, workers=workers, no_jobs=no_jobs)


@app.command()
def worker(
    path: Annotated[
        Path | None,
        typer.Argument(help="A site folder or a folder of site folders.", show_default=False),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(help="Generations this process works on at once.", min=1, max=256),
    ] = 4,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics at /metrics on this port (none by default).",
            min=0,
            max=65535,
            show_default=False,
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface the metrics port listens on.")
    ] = "127.0.0.1",
) -> None:
    """Run generation jobs and periodic maintenance from the shared queue; no other HTTP."""
    from forkable.cli.worker import run_worker

    run_worker(path, concurrency=concurrency, metrics_port=metrics_port, metrics_host=metrics_host)


@app.command()
def check(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Site folders, site.toml files or folders of sites. With several paths (a "
            "glob such as examples/*), the other files and folders are skipped with a note."
        ),
    ],
) -> None:
    """Validate manifests and assets; print every problem as PATH:LINE: key.path: message."""
    from forkable.cli.check import run_check

    raise typer.Exit(run_check(paths))


@app.command()
def fork(
    source: Annotated[Path, typer.Argument(help="The site folder to copy.")],
    dest: Annotated[Path, typer.Argument(help="The new site's folder; must not exist yet.")],
    site_id: Annotated[
        str | None, typer.Option("--id", help="The new site's id; default: DEST's folder name.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    tagline: Annotated[str | None, typer.Option("--tagline", help="Landing page tagline.")] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="The instruction sent to the image model.")
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain", help="Host name; default: the source's, its first label replaced by the id."
        ),
    ] = None,
    primary_color: Annotated[
        str | None, typer.Option("--primary-color", help="Main color, e.g. #3a86ff.")
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY.PATH=VALUE",
            help="Set any manifest key (repeatable), e.g. pricing.packs[0].price_cents=599.",
        ),
    ] = None,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Do not make DEST a git repository.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the files it would write; write nothing.")
    ] = False,
    regenerate_examples: Annotated[
        bool,
        typer.Option(
            "--regenerate-examples", help="Re-make the example after-images with the new transform."
        ),
    ] = False,
    deploy_to: Annotated[
        str | None,
        typer.Option("--deploy", help="Then ship it: vercel or github (needs their tokens)."),
    ] = None,
) -> None:
    """Make a new site from an existing one, as a deployable repository of its own."""
    from forkable.cli.fork import run_fork

    run_fork(
        source,
        dest,
        site_id=site_id,
        name=name,
        tagline=tagline,
        prompt=prompt,
        domain=domain,
        primary_color=primary_color,
        assignments=assignments or [],
        git=not no_git,
        regenerate_examples=regenerate_examples,
        dry_run=dry_run,
        deploy_to=deploy_to,
    )


@app.command()
def deploy(
    path: Annotated[Path, typer.Argument(help="The site folder.")],
    target: Annotated[
        str, typer.Option("--target", metavar="vercel|docker|github", help="Where to ship it.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what it would write or send; change nothing.")
    ] = False,
) -> None:
    """Ship a site: Docker build files, a Vercel deployment, or a GitHub repository."""
    from forkable.cli.deploy import run_deploy

    run_deploy(path, target, dry_run)


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


@users_app.command("export")
def users_export(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    out: Annotated[Path, typer.Option("--out", help="The zip file to write.")],
    site: SiteOption = None,
) -> None:
    """Write a user's data (account.json, photos, results) to a zip, as the user's own export."""
    from forkable.cli.account_data import run_export

    run_export(email, site, out)


@users_app.command("delete")
def users_delete(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    site: SiteOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    sites: Annotated[
        Path | None,
        typer.Option(
            "--sites", help="The site folder (or folder of sites); default: FORKABLE_SITES."
        ),
    ] = None,
) -> None:
    """Delete a user's account, photos and results for good, as the user's own deletion."""
    from forkable.cli.account_data import run_delete

    run_delete(email, site, yes, sites)


@users_app.command("finish-deletions")
def users_finish_deletions() -> None:
    """Delete files of deleted accounts that the media store refused to delete before."""
    from forkable.cli.account_data import run_finish_deletions

    run_finish_deletions()


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


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="The .tar.gz archive to write.")],
) -> None:
    """Archive the database and its media while the site serves (SQLite online backup, pg_dump)."""
    from forkable.cli.backup import run_backup

    run_backup(dest)


@app.command()
def restore(
    src: Annotated[Path, typer.Argument(help="An archive written by `forkable backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database or media store that holds data.")
    ] = False,
) -> None:
    """Load a backup into an empty database and media store, then verify the ledger."""
    from forkable.cli.backup import run_restore

    raise typer.Exit(run_restore(src, force))


@payments_app.command("reconcile")
def payments_reconcile(
    since: Annotated[
        str, typer.Option("--since", help="How far back: a duration (3d, 12h) or a date.")
    ] = "3d",
) -> None:
    """Credit paid Stripe sessions that no webhook credited; safe to run any number of times."""
    from forkable.cli.payments import run_reconcile

    run_reconcile(since)


@alerts_app.command("check")
def alerts_check(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="The site folder or folder of sites (default: as for serve).", show_default=False
        ),
    ] = None,
    fail_if_firing: Annotated[
        bool, typer.Option("--fail-if-firing", help="Exit 2 while any alert is firing.")
    ] = False,
) -> None:
    """Evaluate every rule once, send due notices, print each rule's state (for cron)."""
    from forkable.cli.alerts import run_check

    raise typer.Exit(run_check(path, fail_if_firing))


@alerts_app.command("test")
def alerts_test() -> None:
    """Send a test alert to every configured channel; one line per channel."""
    from forkable.cli.alerts import run_test

    raise typer.Exit(run_test())


@alerts_app.command("rules")
def alerts_rules() -> None:
    """List the rules in effect (shipped defaults merged with FORKABLE_ALERT_RULES)."""
    from forkable.cli.alerts import run_rules

    raise typer.Exit(run_rules())


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    try:
        app(args=argv, prog_name="forkable", standalone_mode=True)
    except SettingsError as exc:
        fail(*exc.problems)
    except ManifestError as exc:
        fail(*(str(p) for p in exc.problems))
    sys.exit(0)
