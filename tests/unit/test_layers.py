"""The core's layers (ARCHITECTURE.md): no module imports from a layer above its own.

Every `import` / `from ... import` of a `confidence_router` module counts, at any depth (inside
functions too) and under `if TYPE_CHECKING:` as well: no exemption is needed today.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "confidence_router"

# Lowest first. A module belongs to the layer of the longest prefix listed here; "" is the
# package's own `__init__` (the public facade, which re-exports from everywhere).
LAYERS: list[tuple[str, ...]] = [
    (  # what a call is and returns, and what a backend can supply
        "errors",
        "messages",
        "generation",
        "statistics",
        "running_confidence",
        "winner",
        "secrets",
        "prompt_files",
        "registry",
        "metrics",
        "embeddings",
        "_orphan_guard",
    ),
    ("tools",),
    ("models",),
    ("uncertainty",),
    ("routers",),
    ("routing",),
    ("evaluation",),
    ("training",),  # the paper's phases run evaluations
    (  # applications; the CLI's subcommands live beside what they drive
        "",
        "cli",
        "demo",
        "server",
        "serve",
        "testing",
        "local_chat_handler",
        "local_server_main",
        "evaluation.commands",
        "training.commands",
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of `module` (dotted, without the `confidence_router.` prefix)."""
    matches = [
        (len(prefix), index)
        for index, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or (prefix and module.startswith(prefix + "."))
    ]
    if not matches:
        raise AssertionError(f"confidence_router.{module} is in no layer: add it to LAYERS")
    return max(matches)[1]


def imported(path: Path, module: str) -> set[str]:
    """The `confidence_router` modules `path` imports (dotted, without the prefix)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's package
                base = ["confidence_router", *filter(None, package.split("."))]
                base = base[: len(base) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            if name == "confidence_router" or name.startswith("confidence_router."):
                found.add(name.removeprefix("confidence_router").removeprefix("."))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p) or "__init__")
def test_no_module_imports_from_a_layer_above_its_own(path: Path) -> None:
    module = module_name(path)
    own = layer(module)
    above = sorted(name for name in imported(path, module) if layer(name) > own)
    assert not above, f"confidence_router.{module} (layer {own}) imports from above: {above}"


def test_every_layer_is_used() -> None:
    used = {layer(module_name(path)) for path in MODULES}
    assert used == set(range(len(LAYERS)))
