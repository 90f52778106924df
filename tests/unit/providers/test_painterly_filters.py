"""The watercolor, pixel_art and vintage filters: look, parameters and their effect."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from forkable.providers.local import apply_filter, filter_parameters
from forkable.providers.local.pixel_art import pixel_art
from forkable.providers.local.vintage import vintage
from forkable.providers.local.watercolor import watercolor

Outputs = dict[tuple[str, str], Image.Image]
Photos = dict[str, Image.Image]
F32 = npt.NDArray[np.float32]

# Photos whose paintings should be mostly light; the rocket is a night sky, darker by nature.
DAYLIGHT = ("astronaut", "chelsea", "coffee")


def grey(image: Image.Image) -> F32:
    """Return the image's luminance as float32."""
    return np.asarray(image.convert("L"), dtype=np.float32)


def colour_count(image: Image.Image, bits: int = 8) -> int:
    """Return the number of distinct RGB colours, each channel cut to its top bits."""
    rgb = (np.asarray(image.convert("RGB")) >> (8 - bits)).astype(np.uint32)
    return len(np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]))


def strong_edges(image: Image.Image) -> float:
    """Return the fraction of pixels with a steep luminance gradient (texture and edges)."""
    luminance = grey(image)
    dx = cv2.Sobel(luminance, cv2.CV_32F, 1, 0)
    dy = cv2.Sobel(luminance, cv2.CV_32F, 0, 1)
    return float((cv2.magnitude(dx, dy) > 40).mean())


def fine_texture(image: Image.Image) -> float:
    """Return the mean difference between the image and a slightly blurred copy."""
    luminance = grey(image)
    return float(np.abs(luminance - cv2.GaussianBlur(luminance, (0, 0), 2.0)).mean())


def test_defaults_are_documented_values() -> None:
    assert filter_parameters("watercolor") == {"softness": 0.5, "paper": 0.5, "margin": 0.5}
    assert filter_parameters("pixel_art") == {"grid": 64, "colors": 16, "outline": True}
    assert filter_parameters("vintage") == {
        "strength": 0.7,
        "grain": 0.5,
        "vignette": 0.5,
        "blur": 0.3,
    }


# --- watercolor -------------------------------------------------------------------------------


@pytest.mark.parametrize("photo", DAYLIGHT)
def test_watercolor_washes_are_smoother_than_the_photo_but_not_flat(
    photo: str, photos: Photos
) -> None:
    # Paper and margin off, so only the washes are measured.
    washes = watercolor(photos[photo], paper=0.0, margin=0.0)
    assert strong_edges(washes) < 0.7 * strong_edges(photos[photo])
    assert colour_count(washes, bits=6) < colour_count(photos[photo], bits=6)
    assert grey(washes).std() > 20, "the painting is a flat wash"
    assert colour_count(washes, bits=6) > 500


@pytest.mark.parametrize("photo", DAYLIGHT)
def test_watercolor_is_mostly_light_paper_tones(
    photo: str, photos: Photos, outputs: Outputs
) -> None:
    painting = grey(outputs["watercolor", photo])
    assert np.median(painting) >= 150
    assert painting.mean() > grey(photos[photo]).mean() + 30
    # The unpainted margin: the corners are bare paper.
    for corner in (painting[:4, :4], painting[:4, -4:], painting[-4:, :4], painting[-4:, -4:]):
        assert corner.mean() > 235


def test_watercolor_parameters_change_the_result(photos: Photos, outputs: Outputs) -> None:
    cat = photos["chelsea"]
    assert fine_texture(watercolor(cat, paper=1.0)) > 1.5 * fine_texture(watercolor(cat, paper=0.0))
    full_bleed = grey(watercolor(cat, margin=0.0))
    assert full_bleed[:4, :4].mean() < 220, "margin=0 should paint right to the corner"
    softer = watercolor(cat, softness=1.0, paper=0.0, margin=0.0)
    sharper = watercolor(cat, softness=0.0, paper=0.0, margin=0.0)
    assert strong_edges(softer) < strong_edges(sharper)


# --- pixel_art --------------------------------------------------------------------------------


def assert_uniform_blocks(image: Image.Image, block: int) -> None:
    """Fail unless image is made of block x block squares of one colour (cut at the edges)."""
    pixels = np.asarray(image)
    height, width = pixels.shape[:2]
    corners = pixels[::block, ::block]
    rebuilt = np.repeat(np.repeat(corners, block, axis=0), block, axis=1)[:height, :width]
    assert np.array_equal(pixels, rebuilt)
    # And the blocks are no bigger than that: neighbours do differ somewhere.
    assert (corners[1:] != corners[:-1]).any() and (corners[:, 1:] != corners[:, :-1]).any()


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee", "rocket"])
def test_pixel_art_is_uniform_blocks_in_a_small_palette(photo: str, outputs: Outputs) -> None:
    result = outputs["pixel_art", photo]
    assert_uniform_blocks(result, round(max(result.size) / 64))
    assert colour_count(result) <= 16


@pytest.mark.parametrize(("grid", "colors", "outline"), [(32, 4, True), (100, 8, False)])
def test_pixel_art_follows_grid_and_colour_parameters(
    grid: int, colors: int, outline: bool, photos: Photos
) -> None:
    coffee = photos["coffee"]  # 600 x 400, not a multiple of either block size
    result = pixel_art(coffee, grid=grid, colors=colors, outline=outline)
    assert result.size == coffee.size
    assert_uniform_blocks(result, round(600 / grid))
    assert colour_count(result) <= colors


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee", "rocket"])
def test_pixel_art_still_looks_like_the_photo(photo: str, photos: Photos, outputs: Outputs) -> None:
    original = np.asarray(photos[photo], dtype=np.float32)
    result = np.asarray(outputs["pixel_art", photo], dtype=np.float32)
    # Compared at the scale of a couple of blocks, colours stay close to the photo's.
    difference = np.abs(cv2.blur(original, (16, 16)) - cv2.blur(result, (16, 16)))
    assert difference.mean() < 25


def test_pixel_art_outline_darkens_edges(photos: Photos) -> None:
    plain = grey(pixel_art(photos["coffee"], outline=False))
    outlined = grey(pixel_art(photos["coffee"], outline=True))
    assert outlined.mean() < plain.mean()
    assert (outlined != plain).mean() < 0.2, "outlines should be thin, not repaint the image"


# --- vintage ----------------------------------------------------------------------------------


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee", "rocket"])
def test_vintage_has_a_warm_cast(photo: str, outputs: Outputs) -> None:
    rgb = np.asarray(outputs["vintage", photo], dtype=np.float32)
    assert rgb[..., 0].mean() > rgb[..., 2].mean() + 5


def test_vintage_corners_are_darker_than_the_centre() -> None:
    flat = Image.new("RGB", (300, 200), (128, 128, 128))
    light = grey(vintage(flat))
    centre = light[90:110, 140:160].mean()
    for corner in (light[:20, :20], light[:20, -20:], light[-20:, :20], light[-20:, -20:]):
        assert corner.mean() < 0.85 * centre
    assert grey(vintage(flat, vignette=0.0, grain=0.0)).std() < 1.0


def test_vintage_fades_the_blacks_and_adds_grain() -> None:
    black = Image.new("RGB", (300, 200), (0, 0, 0))
    assert grey(vintage(black))[90:110, 140:160].mean() > 25, "blacks should be faded"
    grey_card = Image.new("RGB", (300, 200), (128, 128, 128))
    grainy = fine_texture(vintage(grey_card, grain=1.0, vignette=0.0, blur=0.0))
    clean = fine_texture(vintage(grey_card, grain=0.0, vignette=0.0, blur=0.0))
    assert grainy > 1.0 > clean


def test_vintage_with_every_effect_off_returns_the_photo(photos: Photos) -> None:
    cat = photos["chelsea"]
    untouched = vintage(cat, strength=0.0, grain=0.0, vignette=0.0, blur=0.0)
    assert untouched.tobytes() == cat.convert("RGB").tobytes()
    assert fine_texture(vintage(cat, grain=0.0, blur=1.0)) < fine_texture(
        vintage(cat, grain=0.0, blur=0.0)
    )


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("watercolor", {"softness": -0.1}),
        ("watercolor", {"softness": 1.5}),
        ("watercolor", {"paper": "rough"}),
        ("watercolor", {"margin": math.nan}),
        ("pixel_art", {"grid": 7}),
        ("pixel_art", {"grid": 257}),
        ("pixel_art", {"grid": 64.0}),
        ("pixel_art", {"colors": 1}),
        ("pixel_art", {"colors": 33}),
        ("pixel_art", {"outline": 1}),
        ("pixel_art", {"outline": "yes"}),
        ("vintage", {"strength": 2}),
        ("vintage", {"grain": -1}),
        ("vintage", {"vignette": None}),
        ("vintage", {"blur": 1.1}),
    ],
)
def test_invalid_parameter_values_are_rejected(
    name: str, params: dict[str, object], photos: Photos
) -> None:
    (parameter,) = params
    with pytest.raises(ValueError, match=parameter):
        apply_filter(name, photos["chelsea"], params)
