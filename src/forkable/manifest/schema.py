"""The `site.toml` schema: every table and key a site manifest may hold.

The field descriptions here are the manifest reference: `docs/manifest.md` is generated from
them (`python -m forkable.manifest.docs`), and a test fails when the two drift apart.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
_SLUG = re.compile(SLUG_PATTERN)
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_CURRENCY = re.compile(r"^[a-z]{3}$")
# Asset paths are written into Dockerfile COPY lines and URLs as they are: portable names only.
_ASSET_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
# Control characters (and the Unicode line and paragraph separators, which YAML 1.1 and many
# editors treat as line breaks) would let a value start a new line in a generated Dockerfile,
# workflow or `.env.example`. Only prompts are multi-line text, and they may hold line breaks
# and tabs but nothing else of the kind.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
_PROMPT_WHITESPACE = frozenset({"\n", "\t"})
_CHARACTER_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}
# Ten years: longer is "forever" in all but name, and 0 says that plainly.
MAX_RETENTION_DAYS = 3650


def line_breaking_character(value: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first character of ``value`` that could break a line, described; None if clean."""
    for character in value:
        if character not in allowed and unicodedata.category(character) in _LINE_BREAKING:
            name = _CHARACTER_NAMES.get(character, "a control character")
            return f"{name} (U+{ord(character):04X})"
    return None


def _single_line(value: str) -> str:
    found = line_breaking_character(value)
    if found:
        raise ValueError(f"contains {found}: use one line of printable text")
    return value


def _prompt_text(value: str) -> str:
    found = line_breaking_character(value, _PROMPT_WHITESPACE)
    if found:
        raise ValueError(
            f"contains {found}: a prompt may hold line breaks and tabs, "
            "but no other control characters"
        )
    return value


def _single_line_params(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    for key, value in params.items():
        found = line_breaking_character(key)
        if found:
            raise ValueError(f"parameter name {key!r} contains {found}")
        found = line_breaking_character(value) if isinstance(value, str) else None
        if found:
            raise ValueError(f"parameter {key!r} contains {found}: use one line of printable text")
    return params


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid id: use 1-40 lowercase letters, digits and dashes, "
            "not starting or ending with a dash"
        )
    return value


def _color(value: str) -> str:
    if not _COLOR.fullmatch(value):
        raise ValueError(f"{value!r} is not a color: use #rgb or #rrggbb, for example '#ff6b6b'")
    return value.lower()


def _domain(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    labels = host.split(".")
    if "://" in value or "/" in value or ":" in value:
        raise ValueError(f"{value!r} is not a host name: leave out the scheme, port and path")
    if len(host) > 253 or len(labels) < 2 or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        raise ValueError(f"{value!r} is not a valid domain name such as 'coloringbook.example.com'")
    return host


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise ValueError(f"{value!r} is not a language tag such as 'en' or 'pt-BR'")
    return value


def _currency(value: str) -> str:
    lowered = value.lower()
    if not _CURRENCY.fullmatch(lowered):
        raise ValueError(f"{value!r} is not a three-letter ISO currency code such as 'usd'")
    return lowered


def _asset_path(value: str) -> str:
    # Assets are served from the site folder, so a path must stay inside it.
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or ".." in parts or not value.strip():
        raise ValueError(f"{value!r} must be a relative path inside the site folder")
    if not all(_ASSET_PART.fullmatch(part) for part in parts):
        raise ValueError(
            f"{value!r}: name asset files and folders with letters, digits, '.', '_' and '-'"
        )
    return value


def _whole_days(value: object) -> object:
    # Checked before the strict integer check so that 7.5 or "30" gets a message about days.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number of days, such as 30 (0 keeps forever)")
    if not 0 <= value <= MAX_RETENTION_DAYS:
        raise ValueError(
            f"{value} days is out of range: use 0 (keep forever) to {MAX_RETENTION_DAYS} days"
        )
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


# Every string of the manifest is checked for line-breaking characters first, before any other
# rule strips or matches it: only prompts are multi-line.
_OneLine = AfterValidator(_single_line)
Line = Annotated[str, _OneLine]
Slug = Annotated[str, _OneLine, AfterValidator(_slug)]
Color = Annotated[str, _OneLine, AfterValidator(_color)]
Domain = Annotated[str, _OneLine, AfterValidator(_domain)]
Email = Annotated[str, _OneLine, AfterValidator(_email)]
Language = Annotated[str, _OneLine, AfterValidator(_language)]
Currency = Annotated[str, _OneLine, AfterValidator(_currency)]
AssetPath = Annotated[str, _OneLine, AfterValidator(_asset_path)]
Text = Annotated[str, _OneLine, AfterValidator(_non_blank)]
Prompt = Annotated[str, AfterValidator(_prompt_text), AfterValidator(_non_blank)]
ParamValue = str | int | float | bool
Days = Annotated[int, BeforeValidator(_whole_days)]
# Keys and string values are checked together so that one bad value is one problem, not one
# per member of the value union.
Params = Annotated[dict[str, ParamValue], AfterValidator(_single_line_params)]


class _Table(BaseModel):
    # Unknown keys are errors so that typos are caught; strict so "20" is not a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SiteTable(_Table):
    """Who the site is: its id, name and production host name."""

    id: Slug = Field(description="Slug `[a-z0-9-]`, unique within a deployment.")
    name: Text = Field(max_length=80, description="Display name, shown in the header and title.")
    tagline: Text = Field(
        max_length=160, description="One line under the name on the landing page."
    )
    domain: Domain = Field(description="Production host name, e.g. `coloringbook.example.com`.")
    language: Language = Field(default="en", description="Language tag of the site's pages.")


class BrandTable(_Table):
    """Look and feel: colors become CSS custom properties, assets are served from `assets/`."""

    primary_color: Color = Field(default="#ff6b6b", description="Main color (buttons, links).")
    accent_color: Color = Field(default="#1a535c", description="Second color (header, footer).")
    logo: AssetPath | None = Field(
        default=None, description="Logo file relative to the site folder (SVG, PNG or WebP)."
    )
    favicon: AssetPath | None = Field(
        default=None, description="Favicon relative to the site folder; the logo when absent."
    )
    extra_css: AssetPath | None = Field(
        default=None, description="Optional stylesheet loaded after the built-in one."
    )


class StyleTable(_Table):
    """A choice offered to the user; its prompt is added to the site prompt."""

    id: Slug = Field(description="Slug, unique within the site.")
    label: Text = Field(max_length=60, description="What the user sees.")
    prompt: Prompt = Field(description="Added to `transform.prompt` when this style is chosen.")
    params: Params = Field(
        default_factory=dict, description="Local filter parameters for this style."
    )


class TransformTable(_Table):
    """What the site does to a photo: the model, its prompt, and the offline fallback."""

    provider: Slug = Field(
        default="gemini",
        description="`gemini`, `local`, or the name of a provider plugin (`forkable.providers`).",
    )
    model: Text = Field(
        default="gemini-2.5-flash-image", description="Model name passed to the provider."
    )
    prompt: Prompt = Field(description="The instruction sent to the image model with the photo.")
    fallback: Line | None = Field(
        default=None,
        description="Local filter used offline and when the provider is down "
        "(`coloring_book`, `pencil_sketch`, `cartoon`, ...). Needs the `filters` extra "
        "(OpenCV), which deployments of the site then install.",
    )
    filter: Line | None = Field(
        default=None,
        description="Local filter run by the `local` provider; defaults to `fallback`. "
        "Needs the `filters` extra, as `fallback` does.",
    )
    fallback_when_down: bool = Field(
        default=False,
        description="While the provider is failing, make images with `fallback` instead of "
        "refusing them.",
    )
    params: Params = Field(default_factory=dict, description="Parameters for the local filter.")
    max_upload_mb: int = Field(
        default=10, ge=1, le=50, description="Largest accepted upload, in megabytes."
    )
    styles: list[StyleTable] = Field(
        default_factory=list, description="Optional choices shown to the user."
    )

    @property
    def local_filter(self) -> str | None:
        """The local filter this site runs offline, if any."""
        return self.filter or self.fallback


class PackTable(_Table):
    """A token pack on sale."""

    id: Slug = Field(description="Slug, unique within the site.")
    name: Text | None = Field(
        default=None, description="Shown to buyers; the id, titled, if absent."
    )
    tokens: int = Field(gt=0, description="Tokens credited when the pack is paid.")
    price_cents: int = Field(gt=0, description="Price in the currency's smallest unit.")

    @property
    def display_name(self) -> str:
        return self.name or self.id.replace("-", " ").title()


class PricingTable(_Table):
    """Prices in tokens, and the packs that sell tokens."""

    currency: Currency = Field(default="usd", description="ISO 4217 code, lowercase.")
    signup_bonus: int = Field(default=3, ge=0, le=1000, description="Tokens granted on sign-up.")
    cost_per_generation: int = Field(
        default=1, ge=1, le=1000, description="Tokens one generation costs."
    )
    packs: list[PackTable] = Field(default_factory=list, description="Token packs for sale.")


class LimitsTable(_Table):
    """Abuse and cost limits."""

    generations_per_minute: int = Field(
        default=6, ge=1, le=600, description="Generations one user may start per minute."
    )
    daily_spend_cap_usd: float = Field(
        default=50.0,
        ge=0,
        description="Provider spend per site per day; new generations pause past it.",
    )


class LegalTable(_Table):
    """Who runs the site; fills the terms and privacy pages."""

    company: Text = Field(description="Legal name of the operator.")
    contact_email: Email = Field(description="Where visitors write to.")
    address: Line | None = Field(default=None, description="Postal address, shown in the terms.")
    jurisdiction: Line | None = Field(
        default=None, description="Governing law named in the terms, e.g. `England and Wales`."
    )


class RetentionTable(_Table):
    """How long media are kept once their image is made; `0` keeps them forever.

    Days count from when the image finished (made or failed). Past them the file is deleted
    from the media store by the periodic maintenance; the image stays in the user's history,
    its `result_url` becomes null, and the result's address answers 410 Gone.
    """

    photo_days: Days = Field(
        default=30,
        ge=0,
        le=MAX_RETENTION_DAYS,
        description="Days an uploaded photo is kept after its image is made (or has failed); "
        "`0` keeps photos forever.",
    )
    result_days: Days = Field(
        default=365,
        ge=0,
        le=MAX_RETENTION_DAYS,
        description="Days a result image is kept after it is made; `0` keeps results forever.",
    )


class AccountsTable(_Table):
    """How accounts are opened."""

    verify_email: Literal["bonus", "required", "off"] = Field(
        default="bonus",
        description="`bonus`: the sign-up bonus is granted once the address is verified by "
        "the link mailed at sign-up; `required`: no images until it is verified; `off`: "
        "nothing waits for verification.",
    )


class Manifest(_Table):
    """A whole site: the tables of `site.toml`."""

    site: SiteTable
    brand: BrandTable = Field(default_factory=BrandTable)
    transform: TransformTable
    pricing: PricingTable = Field(default_factory=PricingTable)
    limits: LimitsTable = Field(default_factory=LimitsTable)
    legal: LegalTable
    accounts: AccountsTable = Field(default_factory=AccountsTable)
    retention: RetentionTable = Field(default_factory=RetentionTable)
