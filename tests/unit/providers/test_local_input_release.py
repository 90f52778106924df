"""A photo given away to a filter is freed once the filter has its own copy; one that is not
given away is left as it was."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from forkable.providers.base import TransformRequest
from forkable.providers.filter_provider import LocalFilterProvider
from forkable.providers.local import FILTERS, apply_filter
from forkable.providers.local.filters import given_away, release_input


def is_closed(image: Image.Image) -> bool:
    try:
        image.getpixel((0, 0))
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_a_consumed_photo_gives_the_same_result_and_is_freed(
    name: str, photos: dict[str, Image.Image]
) -> None:
    photo = photos["chelsea"]
    kept = photo.copy()
    expected = apply_filter(name, kept)
    assert not is_closed(kept)

    given = photo.copy()
    result = apply_filter(name, given, consume=True)
    assert is_closed(given)
    assert np.array_equal(np.asarray(result), np.asarray(expected))


def test_release_input_frees_only_the_photo_given_away() -> None:
    given, other = Image.new("RGB", (32, 32)), Image.new("RGB", (32, 32))
    release_input(given)  # nothing given away here
    assert not is_closed(given)
    with given_away(given):
        release_input(other)
        assert not is_closed(other)
        release_input(given)
    assert is_closed(given)


def test_the_local_provider_consumes_only_a_consumable_request(
    photos: dict[str, Image.Image],
) -> None:
    provider = LocalFilterProvider("pencil_sketch")
    kept, given = photos["coffee"].copy(), photos["coffee"].copy()
    provider.transform(TransformRequest(image=kept, prompt=""))
    provider.transform(TransformRequest(image=given, prompt="", consumable=True))
    assert (is_closed(kept), is_closed(given)) == (False, True)
