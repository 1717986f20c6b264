"""Fixtures and hooks only: an emulator on a real socket, one Meltano install, the lanes.

Two lanes. The fast lane (`python3 dev.py test --fast`, or `pytest -m "not slow"`)
is every test not marked `slow`: in-process, on fake clocks or the emulator, a
handful of CLI runs. The full suite adds the `slow` files below (real Meltano,
PostgreSQL, kills and long walks, many subprocesses). A new test file lands in
the fast lane unless it is listed here.

Under pytest-xdist (`--dist loadgroup`) the tests that use the session's
`meltano install` or PostgreSQL share one worker: one install for them all, and
one test at a time on the database role whose time zone test_meltano.py sets.
The other end-to-end tests (a fresh clone's own venvs, the Airbyte venv) run
beside them on the other workers.
"""

from __future__ import annotations

import importlib.util
import shutil
import ssl
import subprocess
import typing as t

import pytest

from tap_mega.api.client import MegaStream
from tap_mega.testing.emulator import MegaEmulator
from tests.helpers.meltano import MeltanoProject, install_meltano

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Real Meltano, PostgreSQL, the Airbyte venv.
E2E_FILES = frozenset(
    {
        "test_meltano.py",
        "test_mirror_warehouse.py",
        "test_fleet.py",
        "test_fleet_api_url.py",
        "test_fleet_processes.py",
        "test_airbyte_venv.py",
    }
)
#: Files whose tests are slow for another reason: a process per test (the doctor,
#: source-mega, the tap under signals or with its own environment), or waits on
#: the emulator's real-time rate windows.
SLOW_FILES = frozenset(
    {
        "test_airbyte.py",  # source-mega in its own process, as Airbyte runs it
        "test_airbyte_mirror.py",  # the same, with the mirror's two reads a test
        "test_crash_resume.py",  # SIGKILL at random points of a 20,000-lead sync
        "test_doctor.py",
        "test_doctor_assumptions.py",
        "test_doctor_readme.py",  # the doctor's process
        "test_doctor_reconcile.py",  # the same, on the mirror's lines
        "test_gate.py",  # every entry point in its own process
        "test_mirror_signals.py",  # reconcile passes under SIGKILL and SIGTERM
        "test_rate_limit_readings.py",
        "test_rate_limits.py",  # real-time rate windows
        "test_secrets.py",  # DEBUG-level processes through every fault
        "test_target_stops.py",
        "test_termination.py",  # signals and closed pipes
        "test_wrong_server.py",  # the tap, the doctor and source-mega against web servers
    }
)


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """tests/airbyte_venv needs PyAirbyte: it runs in .venv-airbyte (see test_airbyte_venv.py)."""
    if collection_path.name == "airbyte_venv" and importlib.util.find_spec("airbyte") is None:
        return True
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow and end-to-end files' tests (the fast lane leaves them out), and group."""
    for item in items:
        name = item.path.name
        if name in E2E_FILES:
            item.add_marker(pytest.mark.e2e)
        fixtures = getattr(item, "fixturenames", ())
        if "meltano_project" in fixtures or item.get_closest_marker("postgres") is not None:
            item.add_marker(pytest.mark.xdist_group("meltano"))
        if name in E2E_FILES or name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


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
    """`meltano install` once per session (per xdist worker), for the Meltano and fleet tests."""
    return install_meltano(tmp_path_factory.mktemp("meltano-sys"))


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no CA signed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
