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

#: Top (0) to bottom. A module imports only from layers below its own; within a
#: package (airbyte, testing) its modules import one another.
LAYERS: dict[str, int] = {
    "__main__": 0, "doctor": 0, "fleet": 0,
    "cli": 1, "airbyte": 1, "testing": 1,
    "tap": 2,
    "streams": 3, "plugin": 3,
    "walk": 4,
    "client": 5,
    "progress": 6, "state": 6,
    "pacer": 7, "pages": 7, "records": 7, "writer": 7, "schema": 7, "settings": 7,
    "resume": 7, "redaction": 7, "termination": 7, "sdk_contract": 7,
    "lookback": 8, "timestamps": 8, "files": 8, "argtypes": 8, "network": 8, "refill": 8,
    "responses": 8,
    "errors": 9, "ratewindow": 9,
}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def top_name(module: str) -> str:
    """`tap_mega.airbyte.inputs` -> `airbyte`: the layer is the top-level module's."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


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
        if own == target:
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
