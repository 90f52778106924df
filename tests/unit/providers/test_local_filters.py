"""The local filters on real photos: shape, determinism, look, parameters and odd inputs."""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from forkable.providers.local import FILTERS, UnknownFilterError, apply_filter, filter_parameters
from forkable.providers.local.cartoon import cartoon
from forkable.providers.local.coloring_book import coloring_book, line_mask
from forkable.providers.local.filters import to_rgb, working_copy
from forkable.providers.local.pencil_sketch import pencil_sketch

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
EXPECTED_MODE = {
    "coloring_book": "L",
    "pencil_sketch": "L",
    "cartoon": "RGB",
    "watercolor": "RGB",
    "pixel_art": "RGB",
    "vintage": "RGB",
}

# The photos and outputs fixtures live in conftest.py, shared with the other filter tests.
Outputs = dict[tuple[str, str], Image.Image]


def colour_count(image: Image.Image) -> int:
    """Return the number of distinct RGB colours in image."""
    rgb = np.asarray(image.convert("RGB")).astype(np.uint32)
    return len(np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]))


def test_registry_lists_the_six_filters() -> None:
    assert set(FILTERS) == set(EXPECTED_MODE)
    assert FILTERS["coloring_book"] is coloring_book
    assert filter_parameters("coloring_book") == {"line_thickness": 2, "detail": 0.5}


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_output_keeps_size_and_has_the_filters_mode(
    name: str, photo: str, photos: dict[str, Image.Image], outputs: Outputs
) -> None:
    result = outputs[name, photo]
    assert result.size == photos[photo].size
    assert result.mode == EXPECTED_MODE[name]


@pytest.mark.parametrize(("name", "photo"), [(n, "chelsea") for n in sorted(FILTERS)])
def test_same_input_gives_the_same_bytes(
    name: str, photo: str, photos: dict[str, Image.Image], outputs: Outputs
) -> None:
    again = FILTERS[name](photos[photo].copy())
    assert again.tobytes() == outputs[name, photo].tobytes()


@pytest.mark.parametrize("photo", PHOTOS)
def test_coloring_book_is_clean_printable_line_art(photo: str, outputs: Outputs) -> None:
    page = np.asarray(outputs["coloring_book", photo])
    height, width = page.shape
    assert set(np.unique(page).tolist()) <= {0, 255}

    ink = page == 0
    assert 0.02 <= ink.mean() <= 0.25, f"ink covers {ink.mean():.1%}"

    # Specks: dark blobs under 20 px at a 1024 px long side, scaled to this photo's size.
    speck_area = 20 * (max(width, height) / 1024) ** 2
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    specks = int((stats[1:, cv2.CC_STAT_AREA] < speck_area).sum())
    assert specks <= 2, f"{specks} isolated specks"

    # Colourable areas: most of the page is white regions of at least 1% of the page each.
    _, _, white, _ = cv2.connectedComponentsWithStats((~ink).astype(np.uint8), connectivity=4)
    areas = white[1:, cv2.CC_STAT_AREA]
    large = areas[areas >= 0.01 * page.size].sum() / page.size
    assert large >= 0.6, f"only {large:.0%} of the page is in large white regions"


def test_coloring_book_finds_the_soft_outlines_of_a_close_up(
    photos: dict[str, Image.Image],
) -> None:
    # The cat fills the frame and its outlines are gentle; the soft-outline pass draws them,
    # while a studio portrait full of sharp edges gets next to nothing extra.
    def ink(photo: str, soft: bool) -> float:
        work = working_copy(to_rgb(photos[photo]), allow_upscale=True)
        lines = line_mask(work, line_thickness=2, detail=0.5, soft_outlines=soft)
        return float((lines > 0).mean())

    assert ink("chelsea", soft=True) > 1.3 * ink("chelsea", soft=False)
    assert ink("astronaut", soft=True) < 1.05 * ink("astronaut", soft=False)


@pytest.mark.parametrize("photo", PHOTOS)
def test_pencil_sketch_is_mostly_paper_white(photo: str, outputs: Outputs) -> None:
    sketch = np.asarray(outputs["pencil_sketch", photo])
    assert np.median(sketch) > 200
    assert sketch.min() < 100, "the sketch has no dark strokes at all"


@pytest.mark.parametrize("photo", PHOTOS)
def test_cartoon_uses_a_small_palette(
    photo: str, photos: dict[str, Image.Image], outputs: Outputs
) -> None:
    # 12 palette colours plus the darker twin of each for outlines.
    assert colour_count(outputs["cartoon", photo]) <= 24
    assert colour_count(photos[photo]) > 10_000


def test_cartoon_colour_count_follows_the_parameter(photos: dict[str, Image.Image]) -> None:
    result = cartoon(photos["coffee"], colors=4, line_thickness=0)
    assert colour_count(result) <= 4


def test_parameters_change_the_result(photos: dict[str, Image.Image], outputs: Outputs) -> None:
    thick = np.asarray(coloring_book(photos["coffee"], line_thickness=5))
    assert (thick == 0).mean() > (np.asarray(outputs["coloring_book", "coffee"]) == 0).mean()
    detailed = np.asarray(coloring_book(photos["coffee"], detail=1.0))
    sparse = np.asarray(coloring_book(photos["coffee"], detail=0.0))
    assert (detailed == 0).mean() > (sparse == 0).mean()
    darker = np.asarray(pencil_sketch(photos["coffee"], darkness=5.0))
    assert darker.mean() < np.asarray(outputs["pencil_sketch", "coffee"]).mean()


def test_apply_filter_passes_parameters(photos: dict[str, Image.Image]) -> None:
    via_name = apply_filter("coloring_book", photos["chelsea"], {"line_thickness": 4})
    direct = coloring_book(photos["chelsea"], line_thickness=4)
    assert via_name.tobytes() == direct.tobytes()


def test_unknown_filter_name_is_a_clear_key_error(photos: dict[str, Image.Image]) -> None:
    with pytest.raises(UnknownFilterError) as caught:
        apply_filter("oil_painting", photos["chelsea"])
    assert isinstance(caught.value, KeyError)
    assert "oil_painting" in str(caught.value)
    assert "coloring_book" in str(caught.value)


def test_unknown_parameter_is_named_in_the_error(photos: dict[str, Image.Image]) -> None:
    with pytest.raises(ValueError, match=r"'thickness'.*accepted: line_thickness, detail"):
        apply_filter("coloring_book", photos["chelsea"], {"thickness": 3})


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("coloring_book", {"line_thickness": 0}),
        ("coloring_book", {"line_thickness": 9}),
        ("coloring_book", {"line_thickness": 2.5}),
        ("coloring_book", {"line_thickness": "2"}),
        ("coloring_book", {"line_thickness": True}),
        ("coloring_book", {"detail": -0.1}),
        ("coloring_book", {"detail": 1.5}),
        ("coloring_book", {"detail": math.nan}),
        ("coloring_book", {"detail": None}),
        ("pencil_sketch", {"blur_radius": 0}),
        ("pencil_sketch", {"darkness": 9}),
        ("cartoon", {"colors": 1}),
        ("cartoon", {"colors": 33}),
        ("cartoon", {"line_thickness": -1}),
        ("cartoon", {"smoothness": 99}),
    ],
)
def test_invalid_parameter_values_are_rejected(
    name: str, params: dict[str, object], photos: dict[str, Image.Image]
) -> None:
    (parameter,) = params
    with pytest.raises(ValueError, match=parameter):
        apply_filter(name, photos["chelsea"], params)


def _transparent_left_half(photo: Image.Image) -> Image.Image:
    rgba = photo.convert("RGBA")
    alpha = np.full((rgba.height, rgba.width), 255, dtype=np.uint8)
    alpha[:, : rgba.width // 2] = 0
    rgba.putalpha(Image.fromarray(alpha))
    return rgba


CONVERSIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "RGBA": _transparent_left_half,
    "LA": lambda photo: _transparent_left_half(photo).convert("LA"),
    "L": lambda photo: photo.convert("L"),
    "P": lambda photo: photo.convert("P"),
    "1": lambda photo: photo.convert("1"),
}


@pytest.mark.parametrize("mode", sorted(CONVERSIONS))
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_non_rgb_input_works(name: str, mode: str, photos: dict[str, Image.Image]) -> None:
    source = CONVERSIONS[mode](photos["chelsea"].reduce(2))
    assert source.mode == mode
    result = FILTERS[name](source)
    assert result.size == source.size
    assert result.mode == EXPECTED_MODE[name]


def test_transparency_is_flattened_onto_white(photos: dict[str, Image.Image]) -> None:
    source = _transparent_left_half(photos["chelsea"])
    margin = source.width // 2 - 20  # clear of the outline drawn along the alpha edge
    page = np.asarray(coloring_book(source))
    assert (page[:, :margin] == 255).all()
    sketch = np.asarray(pencil_sketch(source))
    assert (sketch[:, :margin] >= 250).all()
    transparent = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    assert np.asarray(coloring_book(transparent)).min() == 255


def test_palette_transparency_is_flattened_onto_white() -> None:
    # A GIF-style image: black palette entry 0 marked transparent, a red square on it.
    indexed = Image.new("P", (120, 90), 0)
    indexed.putpalette([0, 0, 0, 255, 0, 0])
    indexed.paste(1, (40, 30, 80, 60))
    indexed.info["transparency"] = 0
    page = np.asarray(coloring_book(indexed))
    assert (page[:20] == 255).all()
    assert (page[35:55, 45:75] == 255).all()
    assert (page == 0).any(), "the square should be outlined"
    assert np.asarray(cartoon(indexed))[:20].min() > 200


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_photo_larger_than_the_working_size(name: str, photos: dict[str, Image.Image]) -> None:
    large = photos["coffee"].resize((1800, 1200), Image.Resampling.BICUBIC)
    result = FILTERS[name](large)
    assert result.size == large.size
    assert result.mode == EXPECTED_MODE[name]
    if name == "coloring_book":
        assert set(np.unique(np.asarray(result)).tolist()) == {0, 255}
    if name == "cartoon":
        assert colour_count(result) <= 24


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (2000, 5), (7, 900)])
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_tiny_and_extreme_shapes(name: str, size: tuple[int, int]) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    result = FILTERS[name](Image.fromarray(noise))
    assert result.size == size
    assert result.mode == EXPECTED_MODE[name]


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_empty_image_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        FILTERS[name](Image.new("RGB", (0, 0)))


def test_flat_image_gives_a_blank_page() -> None:
    flat = Image.new("RGB", (300, 200), (120, 160, 200))
    assert np.asarray(coloring_book(flat)).min() == 255
    assert np.asarray(pencil_sketch(flat)).min() >= 250
