"""Every third-party module tap_mega imports comes from a declared dependency.

A package that only arrives through singer-sdk works until an SDK release drops
it; declaring it makes the tap's needs its own.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import tap_mega

PACKAGE = Path(tap_mega.__file__).parent


#: Subpackages that only an optional extra's users import, with that extra.
EXTRA_PACKAGES = {"fleet": "fleet"}


def imported_top_level_modules(folder: Path = PACKAGE, skip: tuple[str, ...] = ()) -> set[str]:
    """The first component of every module `folder` imports, at any depth."""
    modules: set[str] = set()
    for source in folder.rglob("*.py"):
        if any(part in skip for part in source.relative_to(folder).parts[:-1]):
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def declared_distributions(extra: str | None = None) -> set[str]:
    """The distributions in [project.dependencies], plus those of `extra` if named."""
    names = set()
    for requirement in requires("tap-mega") or []:
        extra_marker = re.search(r"extra == ['\"]([^'\"]+)['\"]", requirement)
        if extra_marker and extra_marker.group(1) != extra:
            continue
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match is not None, requirement
        names.add(normalize(match.group(0)))
    return names


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def undeclared_imports(modules: set[str], declared: set[str]) -> dict[str, list[str]]:
    """Third-party modules in `modules` that no distribution in `declared` provides."""
    providers = packages_distributions()
    return {
        module: sorted(providers.get(module, ["(not installed)"]))
        for module in third_party(modules)
        if not {normalize(name) for name in providers.get(module, [])} & declared
    }


def third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m != "tap_mega"}


def test_every_third_party_import_is_a_declared_dependency() -> None:
    core = imported_top_level_modules(skip=tuple(EXTRA_PACKAGES))
    undeclared = undeclared_imports(core, declared_distributions())
    assert undeclared == {}, f"imported but not in [project.dependencies]: {undeclared}"
    # The check has teeth: the SDK's own imports are among those it looked at.
    assert {"singer_sdk", "requests", "jsonschema", "backoff"} <= third_party(core)


def test_an_extras_subpackage_imports_only_the_core_and_its_extra() -> None:
    for folder, extra in EXTRA_PACKAGES.items():
        modules = imported_top_level_modules(PACKAGE / folder)
        undeclared = undeclared_imports(modules, declared_distributions(extra))
        assert undeclared == {}, f"tap_mega/{folder} imports, not in `{extra}`: {undeclared}"
        assert "dagster" in third_party(modules), "the check has teeth: dagster is seen"
