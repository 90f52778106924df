"""Site manifests: the schema of `site.toml`, loading with line-numbered errors."""

from forkable.manifest.loader import (
    MANIFEST_NAME,
    Catalog,
    ManifestError,
    Problem,
    SiteSource,
    load_site,
    load_sites,
    site_folders,
)
from forkable.manifest.schema import Manifest

__all__ = [
    "MANIFEST_NAME",
    "Catalog",
    "Manifest",
    "ManifestError",
    "Problem",
    "SiteSource",
    "load_site",
    "load_sites",
    "site_folders",
]
