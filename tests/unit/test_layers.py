"""Imports point down: the layer order of forkable's packages, and no import cycles.

Read from the source with `ast` (nothing is imported), so a test that fails names the module
and the import. docs/architecture.md draws the same order.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Bottom first. A package may import its own modules and any package of a lower layer; packages
# on the same layer do not import each other. "forkable" is the package's own __init__.
LAYERS: list[tuple[str, ...]] = [
    ("forkable", "image_bytes", "allocator", "periodic", "ratelimit", "testing"),
    ("settings",),
    ("manifest",),
    ("sites",),
    ("sites_watch", "db"),
    ("observability", "storage", "ledger", "mail"),
    ("providers", "accounts"),
    ("generations", "payments"),
    ("account_data",),
    ("workers",),
    ("services",),
    ("backup",),
    ("monitoring",),
    ("admin",),
    ("schema",),
    ("deploy", "web"),
    ("app",),
    ("asgi",),
    ("cli",),
    ("__main__",),
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (SRC / "forkable").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The forkable modules that ``name`` imports, resolved to the module each one names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("forkable"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "forkable" or target.startswith("forkable."):
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    yield submodule if submodule in MODULES else target


def _unit(module: str) -> str:
    """The layer unit of a module: its top-level package or module under forkable."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "forkable"


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def test_every_package_has_a_layer() -> None:
    assert sorted({_unit(module) for module in MODULES} - set(LEVEL)) == []


def test_imports_point_down() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if _unit(module) != _unit(target) and LEVEL[_unit(target)] >= LEVEL[_unit(module)]
    ]
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_cycles_between_modules() -> None:
    assert _cycles(GRAPH) == []


def test_no_cycles_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        packages.setdefault(_unit(module), set()).update(
            _unit(target) for target in targets if _unit(target) != _unit(module)
        )
    assert _cycles(packages) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert _cycles(graph) == expected
