"""The locks in .ci/locks/: what dev.py installs, and when it installs again."""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is a script at the root, stdlib only

LOCKS = (dev.DEV_LOCK, dev.MELTANO_LOCK, dev.AIRBYTE_LOCK)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(lock: Path) -> dict[str, set[str]]:
    """Each package's pinned versions (one per Python range where they differ)."""
    pins: dict[str, set[str]] = {}
    for line in lock.read_text().splitlines():
        requirement = line.split(";")[0].strip()
        if "==" in requirement and not line.startswith((" ", "#")):
            name, version = requirement.split("==")
            pins.setdefault(normalize(name), set()).add(version)
    return pins


def test_the_venv_holds_exactly_the_locked_versions() -> None:
    if Path(sys.prefix).resolve() != dev.VENV.resolve():
        pytest.skip(f"checks dev.py's .venv; this run uses {sys.prefix}")
    pins = pinned_versions(dev.DEV_LOCK)
    # pip and (before Python 3.12) setuptools come with the venv itself.
    bootstrap = {"tap-mega", "pip", "setuptools"}
    installed = {
        normalize(dist.metadata["Name"]): dist.version
        for dist in distributions()
        if normalize(dist.metadata["Name"]) not in bootstrap
    }
    mismatched = {
        name: (version, sorted(pins.get(name, ["not in the lock"])))
        for name, version in installed.items()
        if version not in pins.get(name, set())
    }
    assert mismatched == {}


def test_locks_name_no_local_path_or_index() -> None:
    for lock in LOCKS:
        text = lock.read_text()
        assert "file:" not in text
        assert "--index-url" not in text
        assert "--find-links" not in text
        assert "/opt/" not in text
        assert str(ROOT) not in text
        assert "python3 dev.py lock" in text.splitlines()[1], "the header names the refresh"


def test_locks_pin_the_direct_dependencies() -> None:
    assert {
        "singer-sdk",
        "requests",
        "pendulum",
        "jsonschema",
        "python-backoff",
        "typing-extensions",
        "pytest",
        "ruff",
        "mypy",
    } <= set(pinned_versions(dev.DEV_LOCK))
    assert {"airbyte", "airbyte-cdk", "singer-sdk"} <= set(pinned_versions(dev.AIRBYTE_LOCK))
    assert "meltano" in pinned_versions(dev.MELTANO_LOCK)


def test_a_new_lock_changes_the_install_stamp(tmp_path: Path) -> None:
    """dev.py reinstalls when the stamp differs: a moved pin must move the stamp."""
    moved = tmp_path / "dev.txt"
    text = dev.DEV_LOCK.read_text()
    version = min(pinned_versions(dev.DEV_LOCK)["requests"])
    moved.write_text(text.replace(f"requests=={version}", "requests==2.32.0"))
    assert moved.read_text() != text

    assert dev.requirements_fingerprint(moved) != dev.requirements_fingerprint(dev.DEV_LOCK)
    assert dev.requirements_fingerprint(dev.DEV_LOCK) == dev.requirements_fingerprint()
    assert dev.requirements_fingerprint(dev.AIRBYTE_LOCK) != dev.requirements_fingerprint()
