"""Re-make a site's example after-images with its own transform, so its landing page shows it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from forkable.manifest import Manifest
from forkable.providers.base import ProviderError, TransformRequest
from forkable.settings import Settings
from forkable.sites import ASSETS_DIR, EXAMPLES_DIR, Site

if TYPE_CHECKING:
    from forkable.providers.resolver import ProviderResolver

_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_DEADLINE_SECONDS = 180.0  # per image: a slow model must not hang a fork forever


class ExamplesError(Exception):
    """An example could not be re-made; the message is one line."""


@dataclass(frozen=True)
class Regenerated:
    """The after-images written, and which provider made them."""

    written: list[str]  # paths relative to the site folder
    provider: str
    offline_preview: bool  # the site's model was not reachable: its local filter stood in


def before_images(folder: Path) -> list[Path]:
    """``assets/examples/NAME-before.EXT`` files, sorted."""
    examples = folder / ASSETS_DIR / EXAMPLES_DIR
    if not examples.is_dir():
        return []
    return sorted(
        p
        for p in examples.iterdir()
        if p.stem.endswith("-before") and p.suffix.lower() in _SUFFIXES and p.is_file()
    )


def after_path(before: Path) -> Path:
    """The after-image paired with ``before``: the existing one, else a new PNG."""
    name = before.stem.removesuffix("-before")
    for suffix in _SUFFIXES:
        existing = before.with_name(f"{name}-after{suffix}")
        if existing.is_file():
            return existing
    return before.with_name(f"{name}-after.png")


def regenerate_examples(
    folder: Path,
    manifest: Manifest,
    settings: Settings,
    *,
    resolver: ProviderResolver | None = None,
) -> Regenerated:
    """Run the site's transform (its model, or its local filter offline) on every before-image."""
    site = Site(manifest=manifest, folder=folder)
    # Imported here: the resolver pulls in the database and metrics layers, which a fork
    # without --regenerate-examples never needs (and forks should start fast).
    from forkable.providers.resolver import ProviderResolver

    choice = (resolver or ProviderResolver(settings)).for_site(site)
    provider = choice.provider
    written: list[str] = []
    for before in before_images(folder):
        relative = before.relative_to(folder).as_posix()
        try:
            with Image.open(before) as opened:
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except (OSError, ValueError) as exc:
            raise ExamplesError(f"cannot read {relative}: {exc}") from None
        request = TransformRequest(
            image=image,
            prompt=manifest.transform.prompt,
            model=manifest.transform.model,
            deadline=time.monotonic() + _DEADLINE_SECONDS,
        )
        try:
            result = provider.transform(request)
        except ProviderError as exc:
            raise ExamplesError(
                f"cannot re-make the example {relative} with {provider.name}: {exc}"
            ) from None
        target = after_path(before)
        _save(result.image, target)
        written.append(target.relative_to(folder).as_posix())
    return Regenerated(written, provider.name, choice.offline_preview)


def _save(image: Image.Image, target: Path) -> None:
    if target.suffix.lower() in (".jpg", ".jpeg"):
        image.convert("RGB").save(target, format="JPEG", quality=90)
    elif target.suffix.lower() == ".webp":
        image.save(target, format="WEBP", quality=90)
    else:
        image.save(target, format="PNG", optimize=True)
