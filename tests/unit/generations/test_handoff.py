"""The bounded map of decoded uploads handed from requests to workers."""

from __future__ import annotations

import time

from PIL import Image

from forkable.generations.handoff import DecodedInputs


def _image(shade: int, side: int = 10) -> Image.Image:
    return Image.new("L", (side, side), shade)


def test_take_returns_the_image_once() -> None:
    inputs = DecodedInputs(max_pixels=1000)
    image = _image(10)
    assert inputs.put("a", image)
    assert inputs.take("a") is image
    assert inputs.take("a") is None
    assert (len(inputs), inputs.pixels) == (0, 0)


def test_an_image_over_the_budget_is_not_kept_and_earlier_ones_stay() -> None:
    inputs = DecodedInputs(max_pixels=250)  # two 10x10 images fit, a third does not
    assert inputs.put("a", _image(1))
    assert inputs.put("b", _image(2))
    assert not inputs.put("c", _image(3))
    assert inputs.take("c") is None
    assert inputs.pixels == 200
    first = inputs.take("a")
    assert first is not None and first.getpixel((0, 0)) == 1
    assert inputs.put("c", _image(3))  # room again once a worker took one


def test_an_image_larger_than_the_whole_budget_is_never_kept() -> None:
    inputs = DecodedInputs(max_pixels=99)
    assert not inputs.put("a", _image(1))
    assert len(inputs) == 0


def test_images_nobody_took_expire() -> None:
    inputs = DecodedInputs(max_pixels=150, max_age=0.05)
    assert inputs.put("orphan", _image(1))
    time.sleep(0.1)
    assert inputs.put("next", _image(2))  # the orphan's room is given back
    assert inputs.take("orphan") is None
    assert inputs.pixels == 100
