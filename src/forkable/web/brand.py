"""Brand colors as CSS custom properties, with text colors that keep WCAG AA contrast."""

from __future__ import annotations

from forkable.manifest.schema import BrandTable

_WHITE = (255, 255, 255)
_INK = (17, 24, 39)
_AA_CONTRAST = 4.5


def _rgb(color: str) -> tuple[int, int, int]:
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio between two colors (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def hex_color(color: str) -> str:
    """A manifest color (`#abc` or `#aabbcc`) as `#aabbcc`."""
    return _hex(_rgb(color))


def on_color(color: str) -> str:
    """White or ink as `#rrggbb`, whichever reads better on the manifest color ``color``."""
    return _hex(_on(_rgb(color)))


def _on(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """White or ink, whichever reads better on ``background``."""
    return _WHITE if contrast(_WHITE, background) >= contrast(_INK, background) else _INK


def _readable_on_white(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """The color darkened just enough to be AA-readable as text on white."""
    r, g, b = color
    for _ in range(100):
        if contrast((r, g, b), _WHITE) >= _AA_CONTRAST:
            break
        r, g, b = int(r * 0.95), int(g * 0.95), int(b * 0.95)
    return r, g, b


def brand_css(brand: BrandTable) -> str:
    """The `:root` block every page of a site loads before the built-in stylesheet."""
    primary = _rgb(brand.primary_color)
    accent = _rgb(brand.accent_color)
    variables = {
        "--brand-primary": _hex(primary),
        "--brand-on-primary": _hex(_on(primary)),
        "--brand-primary-text": _hex(_readable_on_white(primary)),
        "--brand-accent": _hex(accent),
        "--brand-on-accent": _hex(_on(accent)),
        "--brand-accent-text": _hex(_readable_on_white(accent)),
    }
    body = "".join(f"  {name}: {value};\n" for name, value in variables.items())
    return f":root {{\n{body}}}\n"
