"""`forkable fork`: a new site from an existing one, as a deployable repository of its own.

Everything is built in a hidden folder beside DEST and renamed into place at the end, so a
refused or failed fork leaves nothing behind and a finished one appears whole.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from forkable.deploy.bundle import render_bundle, site_paths, write_bundle
from forkable.deploy.examples import ExamplesError, regenerate_examples
from forkable.deploy.wheel import VendoredWheel, running_wheel
from forkable.manifest import MANIFEST_NAME, ManifestError, SiteSource, load_site, site_folders
from forkable.manifest.edit import EditError, KeyPath, ManifestEditor
from forkable.manifest.loader import format_key, is_site_folder
from forkable.manifest.schema import SLUG_PATTERN
from forkable.providers.catalog import build_catalog
from forkable.providers.local import FILTERS, FiltersNotInstalled, filter_parameters
from forkable.settings import Settings

_GIT_IDENTITY = ("-c", "user.name=forkable", "-c", "user.email=forkable@localhost")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


class ForkError(Exception):
    """A fork that was refused or failed; one line per problem, nothing left on disk."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class ForkOptions:
    """What to change in the new site; None keeps the source's value."""

    site_id: str | None = None
    name: str | None = None
    tagline: str | None = None
    prompt: str | None = None
    domain: str | None = None
    primary_color: str | None = None
    assignments: Sequence[str] = ()  # KEY.PATH=VALUE, applied in order after the options above
    git: bool = True
    regenerate_examples: bool = False


@dataclass(frozen=True)
class ForkResult:
    """The new site: where it is (or would be), its files and sizes, and what to tell the user."""

    dest: Path
    site_id: str
    domain: str
    files: dict[str, int]
    notes: list[str] = field(default_factory=list)
    committed: bool = False


def fork_site(
    source: Path,
    dest: Path,
    options: ForkOptions,
    *,
    settings: Settings | None = None,
    dry_run: bool = False,
    wheel: VendoredWheel | None = None,
) -> ForkResult:
    """Copy, edit, validate and package a site; raise ForkError (or ManifestError) if refused."""
    origin = load_site(source, build_catalog())  # a broken source is reported as it is
    dest = dest.expanduser().resolve()
    _check_dest(origin.folder, dest)
    text, notes = edited_manifest(origin, dest, options)
    new_site = tomllib.loads(text).get("site", {})
    site_id, domain = str(new_site.get("id", "")), str(new_site.get("domain", ""))
    problems = sibling_clashes(dest, site_id, domain)
    if problems:
        raise ForkError(problems)
    with _staging(dest, dry_run) as stage:
        _copy_site(origin, stage, text)
        try:
            forked = load_site(stage, build_catalog())
        except ManifestError as exc:
            raise ForkError([_problem_line(p.key, p.message) for p in exc.problems]) from None
        if options.regenerate_examples:
            notes.append(_regenerate(stage, forked, settings or Settings()))
        files = render_bundle(
            stage,
            forked.manifest,
            wheel or running_wheel(),
            source=f"{origin.manifest.site.id} ({origin.manifest.site.name})",
        )
        write_bundle(stage, files)
        listing = {
            p.relative_to(stage).as_posix(): p.stat().st_size
            for p in sorted(stage.rglob("*"))
            if p.is_file()
        }
        committed = False
        if not dry_run:
            if options.git:
                message = f"{forked.manifest.site.name}: forked from {origin.manifest.site.id}"
                commit_all(stage, message)
                committed = True
            if dest.is_dir():  # an empty folder the user made for it
                dest.rmdir()
            stage.rename(dest)
    return ForkResult(dest, site_id, domain, listing, notes, committed)


def edited_manifest(origin: SiteSource, dest: Path, options: ForkOptions) -> tuple[str, list[str]]:
    """The source's `site.toml` text with the fork's changes; comments and layout kept."""
    site_id = options.site_id or dest.name
    if not re.fullmatch(SLUG_PATTERN, site_id):
        hint = "" if options.site_id else " (the id defaults to DEST's folder name: pass --id)"
        raise ForkError(
            [
                f"site.id: {site_id!r} is not a valid id: use 1-40 lowercase letters, digits and "
                f"dashes, not starting or ending with a dash{hint}"
            ]
        )
    source_site = origin.manifest.site
    # The first label of the source's domain becomes the new id: coloringbook.example.com ->
    # petpix.example.com, so the fork never claims the source's host name.
    domain = options.domain or ".".join([site_id, *source_site.domain.split(".")[1:]])
    editor = ManifestEditor(origin.manifest_path.read_text(encoding="utf-8"))
    changes: list[tuple[KeyPath, str | None]] = [
        (("site", "id"), site_id),
        (("site", "name"), options.name),
        (("site", "tagline"), options.tagline),
        (("site", "domain"), domain),
        (("transform", "prompt"), options.prompt),
        (("brand", "primary_color"), options.primary_color),
    ]
    for path, value in changes:
        if value is not None:
            editor.set(path, value)
    for assignment in options.assignments:
        try:
            editor.assign(assignment)
        except EditError as exc:
            raise ForkError([f"--set {exc}"]) from None
    notes = _drop_foreign_params(editor, origin)
    return editor.text(), notes


def _drop_foreign_params(editor: ManifestEditor, origin: SiteSource) -> list[str]:
    """After a change of local filter, remove the source's parameters the new one rejects.

    Parameters belong to a filter (`line_thickness` is the coloring book's): kept after a
    switch to `pencil_sketch` they would only make the new manifest invalid.
    """
    old = origin.manifest.transform
    new_filter = editor.get(("transform", "filter")) or editor.get(("transform", "fallback"))
    if new_filter == old.local_filter or new_filter not in FILTERS:
        return []
    try:
        accepted = filter_parameters(str(new_filter))
    except FiltersNotInstalled:
        return []  # the new manifest's checks refuse the fork, saying what to install
    tables: list[tuple[KeyPath, dict[str, object]]] = [(("transform", "params"), dict(old.params))]
    tables += [
        (("transform", "styles", index, "params"), dict(style.params))
        for index, style in enumerate(old.styles)
    ]
    notes: list[str] = []
    for path, source_params in tables:
        current = editor.get(path)
        if not isinstance(current, dict):
            continue
        dropped = sorted(k for k in current if k in source_params and k not in accepted)
        for key in dropped:
            editor.delete((*path, key))
        if dropped and len(dropped) == len(current):
            editor.delete(path)
        if dropped:
            notes.append(
                f"removed {', '.join(dropped)} from {format_key(path)}: parameters of "
                f"{old.local_filter} that {new_filter} does not take"
            )
    return notes


def sibling_clashes(dest: Path, site_id: str, domain: str) -> list[str]:
    """Problems with the other sites of DEST's folder, which would be served together."""
    parent = dest.parent
    if not parent.is_dir() or is_site_folder(parent):
        return []
    problems: list[str] = []
    for folder in site_folders(parent):
        if folder.name.startswith(".") or folder.resolve() == dest.resolve():
            continue
        try:
            other = tomllib.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["site"]
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
            continue  # a broken neighbour is reported by `forkable check`, not here
        where = folder / MANIFEST_NAME
        if other.get("id") == site_id:
            problems.append(
                f"site.id: {site_id!r} is already the id of {where}, served from the same "
                "folder: pass another --id"
            )
        elif other.get("domain") == domain:  # one line per neighbour: the id says it first
            problems.append(f"site.domain: {domain!r} is already the domain of {where}")
    return problems


def commit_all(folder: Path, message: str) -> None:
    """`git init` with `main` as the branch, and one commit of everything (hooks not run)."""
    git = shutil.which("git")
    if git is None:
        raise ForkError(["git is not installed: install it, or pass --no-git"])
    _git(git, folder, "init", "--quiet")
    _git(git, folder, "symbolic-ref", "HEAD", "refs/heads/main")  # any git version
    identity: tuple[str, ...] = ()
    for key in ("user.name", "user.email"):
        if not _git(git, folder, "config", key, check=False).strip():
            identity = _GIT_IDENTITY
    _git(git, folder, *identity, "add", "--all")
    _git(git, folder, *identity, "commit", "--quiet", "--no-verify", "-m", message)


def _git(git: str, folder: Path, *args: str, check: bool = True) -> str:
    # A GIT_DIR inherited from a hook would point every command at another repository.
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    result = subprocess.run(  # noqa: S603  # fixed git arguments
        [git, "-C", str(folder), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    if check and result.returncode != 0:
        command = next(a for a in args if not a.startswith("-") and "=" not in a)
        detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ForkError([f"git {command} failed: {detail}"])
    return result.stdout


def _check_dest(source: Path, dest: Path) -> None:
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise ForkError([f"{dest} already exists: choose a new folder for the fork"])
    if dest == source or source in dest.parents:
        raise ForkError([f"{dest} is inside the source site {source}: choose a folder outside it"])


@contextmanager
def _staging(dest: Path, dry_run: bool) -> Iterator[Path]:
    """A fresh folder to build the fork in, removed afterwards unless it became DEST."""
    created: list[Path] = []
    if dry_run:
        stage = Path(tempfile.mkdtemp(prefix="forkable-fork-"))
    else:
        missing = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.fork-", dir=dest.parent))
        # mkdtemp makes a private folder; DEST gets the mode any new folder would get.
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)
    try:
        yield stage
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        if not dest.exists():
            for folder in reversed(created):
                folder.rmdir()


def _copy_site(origin: SiteSource, stage: Path, manifest_text: str) -> None:
    """The new manifest and the source's assets (anything else of the source stays behind)."""
    (stage / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
    for relative in site_paths(origin.folder, origin.manifest):
        source = origin.folder / relative
        target = stage / relative
        # Links are copied as links, never followed: a link in the source's assets to a home
        # folder must not become a copy of that folder in the fork (and in its repository).
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, target, ignore=_IGNORED, symlinks=True)
        elif source.is_file() or source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)


def _regenerate(stage: Path, forked: SiteSource, settings: Settings) -> str:
    try:
        done = regenerate_examples(stage, forked.manifest, settings)
    except ExamplesError as exc:
        raise ForkError([str(exc)]) from None
    count = len(done.written)
    note = f"re-made {count} example image{'s' if count != 1 else ''} with {done.provider}"
    if done.offline_preview:
        note += " (offline: set GEMINI_API_KEY to use the site's model)"
    return note


def _problem_line(key: str, message: str) -> str:
    return f"{key}: {message}" if key else message
