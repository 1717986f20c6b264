"""Shared fixtures: an emulator on a real socket and ways to run the tap against it."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import typing as t
from contextlib import redirect_stdout
from dataclasses import dataclass, field

import pytest

from tap_mega.api.client import MegaStream
from tap_mega.tap import TapMega
from tap_mega.testing.emulator import MegaEmulator

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """tests/airbyte_venv needs PyAirbyte: it runs in .venv-airbyte (see test_airbyte_venv.py)."""
    if collection_path.name == "airbyte_venv" and importlib.util.find_spec("airbyte") is None:
        return True
    return None


@dataclass
class SyncResult:
    """What a user of the tap sees on stdout, split by message type."""

    messages: list[dict[str, t.Any]]
    records: list[dict[str, t.Any]] = field(default_factory=list)
    states: list[dict[str, t.Any]] = field(default_factory=list)
    schemas: list[dict[str, t.Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for message in self.messages:
            kind = message["type"]
            if kind == "RECORD":
                self.records.append(message["record"])
            elif kind == "STATE":
                self.states.append(message["value"])
            elif kind == "SCHEMA":
                self.schemas.append(message)

    @property
    def final_state(self) -> dict[str, t.Any]:
        return self.states[-1]

    @property
    def ids(self) -> list[str]:
        return [record["id"] for record in self.records]

    def checkpoints(self) -> list[tuple[dict[str, t.Any], set[str]]]:
        """Each STATE with the ids delivered before it: what a run killed there had."""
        delivered: set[str] = set()
        result: list[tuple[dict[str, t.Any], set[str]]] = []
        for message in self.messages:
            if message["type"] == "RECORD":
                delivered.add(message["record"]["id"])
            elif message["type"] == "STATE":
                result.append((message["value"], set(delivered)))
        return result


def bookmark(state: dict[str, t.Any]) -> dict[str, t.Any]:
    """The leads stream's entry of a Singer state."""
    return t.cast("dict[str, t.Any]", state["bookmarks"]["leads"])


def parse_messages(text: str) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_sync(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
) -> SyncResult:
    """Run the tap in this process and collect what it writes to stdout."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap = TapMega(config=config, state=state, catalog=catalog, parse_env_config=False)
        tap.sync_all()
    return SyncResult(parse_messages(buffer.getvalue()))


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> SyncResult:
        return SyncResult(parse_messages(self.stdout))


# The real entry point, run by `python -c` after a test's prelude (code that
# patches a class attribute, say, as the user's process would never do).
CLI_MAIN = "from tap_mega.cli.main import main; main()"
# The default prelude: the retry wait shrunk as the `fast_retries` fixture does
# in-process; the retry logic is unchanged, only the clock is faster.
FAST_RETRIES = "from tap_mega.api.client import MegaStream; MegaStream.retry_wait_base = 0.01; "
ERROR_PREFIX = "tap-mega: error:"


def error_lines(stderr: str) -> list[str]:
    """The tap's own failure lines: what a user reads when a run fails."""
    return [line for line in stderr.splitlines() if line.startswith(ERROR_PREFIX)]


def assert_one_line_failure(returncode: int, stderr: str, *fragments: str) -> str:
    """Exit 1 with exactly one error line holding every fragment, and no traceback."""
    assert returncode == 1, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in stderr
    return lines[0]


def cli_command(
    config: dict[str, t.Any],
    tmp_path: Path,
    args: tuple[str, ...],
    state: dict[str, t.Any] | None,
    prelude: str = FAST_RETRIES,
) -> list[str]:
    """The command line for the real entry point, with config and state in files."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-c", prelude + CLI_MAIN, "--config", str(config_path), *args]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    return command


def run_cli(
    config: dict[str, t.Any],
    tmp_path: Path,
    *args: str,
    state: dict[str, t.Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    prelude: str = FAST_RETRIES,
) -> CliResult:
    """Run `tap-mega` as a user would, in its own process, with millisecond retry waits.

    `prelude` replaces the default (fast retries) with a test's own set-up code.
    """
    command = cli_command(config, tmp_path, args, state, prelude)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def spawn_cli(
    config: dict[str, t.Any],
    tmp_path: Path,
    *args: str,
    state: dict[str, t.Any] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start `tap-mega` as run_cli does, without waiting: for signals and kills."""
    command = cli_command(config, tmp_path, args, state)
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


#: The generated leads' custom fields, as discovery declares them (see leadgen.py).
EMULATOR_CUSTOM_FIELDS = {
    "lead_line": "string", "budget": "integer", "price_per_sqft": "number",
    "preapproved": "boolean", "timeline": "string", "notes": "string",
    "bedrooms": "any", "preferred_contact": "string",
}


def tap_config(emulator: MegaEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings that point the tap at `emulator`, its custom fields declared by setting.

    Declared, not discovered, so a sync without a catalog makes no sample request
    and a test's request k is its walk's k-th: faults and request counts keep their
    meaning. test_custom_fields.py tests discovery, without this setting.
    """
    config: dict[str, t.Any] = {
        "token": emulator.token,
        "customer_id": emulator.customer_id,
        "api_url": emulator.url,
        "custom_fields_schema": dict(EMULATOR_CUSTOM_FIELDS),
    }
    config.update(overrides)
    return config


def full_table_catalog(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The tap's catalog with every stream switched to FULL_TABLE."""
    catalog = TapMega(config=config, parse_env_config=False).catalog_dict
    for stream in catalog["streams"]:
        stream["replication_method"] = "FULL_TABLE"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["forced-replication-method"] = "FULL_TABLE"
    return catalog


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
