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


def imported_top_level_modules() -> set[str]:
    """The first component of every module tap_mega imports, at any depth."""
    modules: set[str] = set()
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def declared_distributions() -> set[str]:
    """The distributions in [project.dependencies] (extras' entries left out)."""
    names = set()
    for requirement in requires("tap-mega") or []:
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match is not None, requirement
        names.add(normalize(match.group(0)))
    return names


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_a_declared_dependency() -> None:
    third_party = {
        module for module in imported_top_level_modules()
        if module not in sys.stdlib_module_names and module != "tap_mega"
    }
    providers = packages_distributions()
    declared = declared_distributions()
    undeclared = {
        module: sorted(providers.get(module, ["(not installed)"]))
        for module in third_party
        if not {normalize(name) for name in providers.get(module, [])} & declared
    }
    assert undeclared == {}, f"imported but not in [project.dependencies]: {undeclared}"
    # The check has teeth: the SDK's own imports are among those it looked at.
    assert {"singer_sdk", "requests", "jsonschema", "backoff"} <= third_party
