"""Fixtures and hooks only: an emulator on a real socket, one Meltano install.

The helpers the tests share live in tests/helpers/.
"""

from __future__ import annotations

import importlib.util
import typing as t

import pytest

from tap_mega.api.client import MegaStream
from tap_mega.testing.emulator import MegaEmulator
from tests.helpers.meltano import MeltanoProject, install_meltano

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """tests/airbyte_venv needs PyAirbyte: it runs in .venv-airbyte (see test_airbyte_venv.py)."""
    if collection_path.name == "airbyte_venv" and importlib.util.find_spec("airbyte") is None:
        return True
    return None


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry waits of milliseconds, so fault tests stay fast; the logic is unchanged."""
    monkeypatch.setattr(MegaStream, "retry_wait_base", 0.01)


@pytest.fixture
def emulator() -> Iterator[MegaEmulator]:
    """250 leads, no rate limit: the everyday test server."""
    with MegaEmulator(n_leads=250, seed=7, rate_windows=[]) as emu:
        yield emu


@pytest.fixture
def make_emulator() -> Iterator[t.Callable[..., MegaEmulator]]:
    """Start emulators with custom options; all are stopped after the test."""
    started: list[MegaEmulator] = []

    def factory(**kwargs: t.Any) -> MegaEmulator:
        kwargs.setdefault("rate_windows", [])
        emu = MegaEmulator(**kwargs).start()
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """`meltano install` once per session, shared by the Meltano and fleet tests."""
    return install_meltano(tmp_path_factory.mktemp("meltano-sys"))
