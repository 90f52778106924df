"""A coloring book's file name, from its title: ASCII words joined by hyphens."""

from __future__ import annotations

import pytest

from forkable.web.api.books import slug


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Our summer", "our-summer"),
        ("Grandma's Summer: 2026!", "grandma-s-summer-2026"),
        ("Éloïse à la plage", "eloise-a-la-plage"),
        ("  --Dots...and/slashes\\  ", "dots-and-slashes"),
        ("小猫の本", "coloring-book"),  # nothing left in ASCII
        ('"quoted"; filename=evil.exe', "quoted-filename-evil-exe"),
        ("x" * 80, "x" * 60),
    ],
)
def test_slug(title: str, name: str) -> None:
    assert slug(title) == name
