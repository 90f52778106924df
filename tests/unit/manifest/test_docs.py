"""The manifest reference is generated from the schema and must not drift from it."""

from __future__ import annotations

from pathlib import Path
from typing import get_args, get_origin

from pydantic import BaseModel

from forkable.manifest.docs import render
from forkable.manifest.schema import Manifest

DOCS = Path(__file__).resolve().parents[3] / "docs" / "manifest.md"


def test_manifest_reference_is_up_to_date() -> None:
    assert DOCS.read_text() == render(), (
        "docs/manifest.md is stale: run `make docs` (python -m forkable.manifest.docs docs/manifest.md)"
    )


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for info in model.model_fields.values():
        annotation = info.annotation
        inner = get_args(annotation)[0] if get_origin(annotation) is list else annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            found.extend(_models(inner))
    return found


def test_every_key_has_a_description_on_the_page() -> None:
    text = DOCS.read_text()
    for model in _models(Manifest)[1:]:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            assert info.description.replace("|", "\\|") in text, f"{model.__name__}.{name}"
