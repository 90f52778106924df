"""Reading an app's metrics back the way Prometheus does: the text format, parsed."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from forkable.observability.metrics import Metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def exported(metrics: Metrics) -> Samples:
    """Every exported sample: (name, sorted labels) -> value."""
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
