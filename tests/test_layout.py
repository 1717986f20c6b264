"""The package reads top-down: entry points, then tap and stream, then the engine pieces.

Each module imports only modules below it, and none is over about 400 lines, so
a change lands in one small module and nothing below an entry point needs one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tap_mega"
MAX_LINES = 400

ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"
#: `| 4 | `streams/leads.py` | ...` -> ("4", "streams/leads.py").
LAYER_ROW = re.compile(r"^\| (\d+) \| `([\w/.]+)` \|", re.MULTILINE)


def layer_table() -> dict[str, int]:
    """ARCHITECTURE.md's layer table, keyed as `top_name` names modules.

    The page is the rule: a module missing from it, or on another layer than
    the page says, fails here. `streams/leads.py` -> `streams.leads`,
    `doctor/` -> `doctor` (a package whose modules share a layer).
    """
    text = ARCHITECTURE.read_text(encoding="utf-8")
    return {
        name.removesuffix(".py").strip("/").replace("/", "."): int(layer)
        for layer, name in LAYER_ROW.findall(text)
    }


#: Top (0) to bottom. A module imports only from layers below its own.
LAYERS = layer_table()
#: Packages whose modules are one layer: they may import each other.
PACKAGES = {"airbyte", "doctor", "fleet", "testing"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def top_name(module: str) -> str:
    """`tap_mega.airbyte.inputs` -> `airbyte`, `tap_mega.api.client` -> `api.client`.

    The longest key of LAYERS that is `module` or a package above it; a
    package's `__init__` (no key) is "__init__".
    """
    parts = module.split(".")[1:]
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYERS:
            return ".".join(parts[:end])
    return "__init__" if len(parts) <= 1 else ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every tap_mega module `path` imports, at run time or for type checking alone."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tap_mega":
                names.update(f"tap_mega.{alias.name}" for alias in node.names)
            elif node.module.startswith("tap_mega."):
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("tap_mega."))
    return names


def dotted(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_downwards(path: Path) -> None:
    own = top_name(dotted(path))
    if own == "__init__":
        return  # the package's version, nothing else
    assert own in LAYERS, f"add tap_mega/{path.relative_to(PACKAGE)} to ARCHITECTURE.md's layers"
    for name in imported(path):
        target = top_name(name)
        if target in {"__init__", "__version__"}:
            continue
        assert target in LAYERS, f"{name}: add it to ARCHITECTURE.md's layers"
        if own == target and own in PACKAGES:
            assert not (own == "airbyte" and name == "tap_mega.airbyte"), (
                f"{dotted(path)} imports its own package's entry point"
            )
            continue
        assert LAYERS[target] > LAYERS[own], (
            f"{dotted(path)} (layer {LAYERS[own]}) imports {name} (layer {LAYERS[target]}): "
            "an upward import; move the shared piece down"
        )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    relative = str(path.relative_to(PACKAGE))
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"tap_mega/{relative} has {lines} lines: split it by job"


def test_every_module_the_page_names_exists() -> None:
    for name in LAYERS:
        path = PACKAGE / name.replace(".", "/")
        assert path.is_dir() or path.with_suffix(".py").is_file(), (
            f"ARCHITECTURE.md names {name}, which is not in tap_mega/"
        )
