"""What a remote deploy pushes: an allow-list of site files; links and secrets stay behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from forkable.deploy.remote_bundle import NOT_IN_BUNDLE, SiteBundle, looks_secret, site_bundle
from forkable.manifest import load_site

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "coloringbook"
WHEEL = "vendor/forkable-0.1.0-py3-none-any.whl"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    shutil.copytree(EXAMPLE, folder)
    return folder


def write(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name)


def bundle_of(folder: Path) -> SiteBundle:
    return site_bundle(folder, load_site(folder).manifest)


def reasons(bundle: SiteBundle) -> dict[str, str]:
    return {skipped.path: skipped.reason for skipped in bundle.skipped}


def test_only_the_site_its_assets_and_the_generated_files_are_pushed(site: Path) -> None:
    write(
        site,
        ".env.example",
        "Dockerfile",
        "api/index.py",
        ".github/workflows/deploy.yml",
        WHEEL,
        "assets/extra.css",
        "assets/fonts/brand.woff2",
        "assets/var/kept.png",
        "notes.txt",
        "assets/draft.psd",
        "scripts/seed.py",
        "vendor/other-1.0-py3-none-any.whl",
        ".github/workflows/mine.yml",
    )
    pushed = [f.path for f in bundle_of(site).files]
    assert pushed == sorted(
        [
            ".env.example",
            ".github/workflows/deploy.yml",
            "Dockerfile",
            "api/index.py",
            "assets/extra.css",
            "assets/favicon.svg",
            "assets/fonts/brand.woff2",
            "assets/logo.svg",
            "assets/var/kept.png",
            "site.toml",
            WHEEL,
            *(p.relative_to(site).as_posix() for p in (site / "assets" / "examples").iterdir()),
        ]
    )
    skipped = reasons(bundle_of(site))
    for path in (
        "notes.txt",
        "assets/draft.psd",
        "scripts/seed.py",
        "vendor/other-1.0-py3-none-any.whl",
        ".github/workflows/mine.yml",
    ):
        assert skipped[path] == NOT_IN_BUNDLE


def test_local_state_and_caches_are_left_out_quietly(site: Path) -> None:
    write(
        site,
        "var/forkable.sqlite3",
        ".git/config",
        ".venv/bin/python",
        ".vercel/.env.production.local",
        "assets/__pycache__/m.cpython-311.pyc",
        "assets/old.pyc",
    )
    bundle = bundle_of(site)
    assert not any(f.path.startswith(("var/", ".git/", ".venv/", ".vercel/")) for f in bundle.files)
    assert not any(".pyc" in f.path for f in bundle.files)
    assert bundle.skipped == []


@pytest.mark.parametrize(
    "name",
    [
        ".env",
        ".env.production.local",
        ".envrc",
        "deploy-key.pem",
        "assets/server.key",
        "id_rsa",
        "id_ed25519.pub",
        ".netrc",
        "assets/.npmrc",
        "credentials.json",
        "certs/client.p12",
    ],
)
def test_files_that_look_like_secrets_are_never_pushed(site: Path, name: str) -> None:
    write(site, name)
    bundle = bundle_of(site)
    assert name not in [f.path for f in bundle.files]
    assert reasons(bundle)[name] == "looks like a secret"


def test_env_example_is_not_a_secret() -> None:
    assert not looks_secret(".env.example")
    assert looks_secret(".ENV")


def test_symbolic_links_are_never_followed(site: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home, ".ssh/id_rsa", "photo.png")
    (site / "assets" / "home").symlink_to(home, target_is_directory=True)
    (site / "assets" / "photo.png").symlink_to(home / "photo.png")
    (site / "assets" / "dangling.svg").symlink_to(tmp_path / "nowhere.svg")
    (site / "assets" / "logo-link.svg").symlink_to(site / "assets" / "logo.svg")
    bundle = bundle_of(site)
    pushed = [f.path for f in bundle.files]
    assert not any(path.startswith("assets/home") for path in pushed)
    for path in ("assets/photo.png", "assets/dangling.svg", "assets/logo-link.svg"):
        assert path not in pushed
        assert reasons(bundle)[path] == "symbolic link, not followed"
    assert reasons(bundle)["assets/home/"] == "symbolic link, not followed"
    assert all(b"id_rsa" not in f.data for f in bundle.files)


def test_a_brand_file_outside_assets_is_pushed(site: Path) -> None:
    shutil.move(site / "assets" / "logo.svg", site / "logo.svg")
    manifest = site / "site.toml"
    manifest.write_text(manifest.read_text().replace('"assets/logo.svg"', '"logo.svg"'))
    assert "logo.svg" in [f.path for f in bundle_of(site).files]


def test_sockets_and_fifos_are_skipped(site: Path) -> None:
    os.mkfifo(site / "assets" / "pipe.png")
    bundle = bundle_of(site)
    assert reasons(bundle)["assets/pipe.png"] == "not a regular file"
