"""The site watcher: new, changed, removed and broken folders, without a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

from forkable.asgi import open_registry
from forkable.providers.catalog import build_catalog
from forkable.sites_watch import SiteWatcher


def _copy_site(sites: Path, source: str, new_id: str) -> Path:
    folder = sites / new_id
    shutil.copytree(sites / source, folder)
    manifest = folder / "site.toml"
    text = manifest.read_text().replace(f'id = "{source}"', f'id = "{new_id}"')
    text = text.replace("coloringbook.example.com", f"{new_id}.example.com")
    manifest.write_text(text)
    return folder


def test_added_changed_removed_and_broken(sites_dir: Path) -> None:
    registry = open_registry(sites_dir)
    seen: list[list[str]] = []
    watcher = SiteWatcher(
        sites_dir, registry, build_catalog(), on_change=lambda s: seen.append([x.id for x in s])
    )
    assert not watcher.scan().anything

    folder = _copy_site(sites_dir, "coloringbook", "petpix")
    result = watcher.scan()
    assert result.added == ["petpix"]
    assert registry.for_host("petpix.localhost") is not None
    assert "petpix" in seen[-1]

    manifest = folder / "site.toml"
    manifest.write_text(
        manifest.read_text().replace('name = "ColoringBook AI"', 'name = "Pet Pix"')
    )
    assert watcher.scan().changed == ["petpix"]
    site = registry.get("petpix")
    assert site is not None and site.manifest.site.name == "Pet Pix"

    manifest.write_text(
        manifest.read_text().replace('primary_color = "#ff6b6b"', 'primary_color = "pink"')
    )
    broken = watcher.scan()
    assert "petpix" in broken.broken and "brand.primary_color" in broken.broken["petpix"]
    site = registry.get("petpix")
    assert site is not None and site.manifest.site.name == "Pet Pix"  # the last good version
    assert registry.get("coloringbook") is not None  # the others keep serving

    shutil.rmtree(folder)
    assert watcher.scan().removed == ["petpix"]
    assert registry.get("petpix") is None
    assert registry.for_host("petpix.localhost") is None


def test_a_clashing_id_is_refused_and_the_others_keep_serving(sites_dir: Path) -> None:
    registry = open_registry(sites_dir)
    watcher = SiteWatcher(sites_dir, registry, build_catalog())
    clash = sites_dir / "copy"
    shutil.copytree(sites_dir / "pencilsketch", clash)
    manifest = clash / "site.toml"
    manifest.write_text(manifest.read_text().replace("sketchme.example.com", "other.example.com"))
    watcher.scan()
    assert sorted(site.id for site in registry) == ["cartoonavatar", "coloringbook", "pencilsketch"]
    assert registry.for_host("other.example.com") is None
    site = registry.get("pencilsketch")
    assert site is not None and site.folder == (sites_dir / "pencilsketch").resolve()
