"""The package reads top-down: entry points, then tap and stream, then the engine pieces.

Each module imports only modules below it, and none is over about 400 lines, so
a change lands in one small module and nothing below an entry point needs one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tap_mega"
MAX_LINES = 400

#: Top (0) to bottom. A module imports only from layers below its own. Keys are
#: modules, or packages whose modules share a layer and import one another
#: (airbyte, doctor, fleet, testing); the longest key that names a module wins.
LAYERS: dict[str, int] = {
    "__main__": 0,
    "doctor": 1, "fleet": 1, "cli.main": 1, "airbyte": 1, "testing": 1,
    "tap": 2,
    "cli.plugin": 3,
    "streams.leads": 4,
    "streams.walk": 5,
    "api.client": 6,
    "budget.progress": 7, "state.inputs": 7,
    "budget.pacer": 8, "api.pages": 8, "streams.writer": 8, "settings": 8,
    "streams.schema": 8, "cli.checks": 8, "state.resume": 8, "redaction": 8,
    "termination": 8, "sdk_contract": 8,
    "state.lookback": 9, "cli.files": 9, "cli.argtypes": 9,
    "api.network": 9, "budget.refill": 9, "api.responses": 9,
    "errors": 10, "budget.window": 10,
    "timestamps": 11,
}
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
    assert own in LAYERS, f"add tap_mega/{path.relative_to(PACKAGE)} to LAYERS in this test"
    for name in imported(path):
        target = top_name(name)
        if target in {"__init__", "__version__"}:
            continue
        assert target in LAYERS, f"{name}: add it to LAYERS"
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
