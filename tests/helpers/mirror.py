"""A SQL target that honours ACTIVATE_VERSION, and runs of the tap that feed it.

`SqlTarget` keeps rows as MeltanoLabs target-postgres 0.8 does with
`add_record_metadata` and its default soft delete: a RECORD upserts its row on
`id` with the message's `version` (`_sdc_table_version`) and a null
`_sdc_deleted_at`, so a row sent again is live again; ACTIVATE_VERSION v marks
every live row whose version is below v, or null, as deleted. After every
ACTIVATE it checks what a user of the warehouse must never see: a lead that
still lives in MEGA marked deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
import typing as t
from dataclasses import dataclass

from tap_mega.state import mirror as mirror_module
from tests.helpers.cli import CliResult, run_main
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest

    from tap_mega.testing.emulator import MegaEmulator, RecordedRequest

#: The log lines a run stopped by its budget ends on: the walk's, the pass's, the check's.
STOPPED = ("Stopping early", "Stopping before the reconcile check")


@dataclass
class Row:
    """One warehouse row: the lead as last sent, its version, and whether it is retired."""

    record: dict[str, t.Any]
    version: int | None
    deleted: bool = False


class SqlTarget:
    """Rows by id, the last STATE, and every ACTIVATE_VERSION taken, checked as it lands."""

    def __init__(self, emulator: MegaEmulator) -> None:
        self.emulator = emulator
        self.rows: dict[str, Row] = {}
        self.state: dict[str, t.Any] | None = None
        self.activations: list[int] = []
        #: The whole lines of each run (crash.py's `run_until_killed` appends to it).
        self.runs: list[list[str]] = []
        #: Which of MEGA's leads the sync's filters select: the rows the target must mirror.
        self.selects: Callable[[dict[str, t.Any]], bool] = lambda _lead: True

    def copy(self) -> SqlTarget:
        """The warehouse as it stands, to replay another history from."""
        twin = SqlTarget(self.emulator)
        twin.rows = {
            key: Row(dict(row.record), row.version, row.deleted) for key, row in self.rows.items()
        }
        twin.state = copy.deepcopy(self.state)
        twin.activations = list(self.activations)
        twin.selects = self.selects
        return twin

    def take(self, line: str) -> bool:
        """Apply one line of a tap's stdout; False for a line a kill cut short."""
        if not line.endswith("\n"):
            return False
        if self.runs:
            self.runs[-1].append(line)
        self.apply(json.loads(line))
        return True

    def apply(self, message: dict[str, t.Any]) -> None:
        kind = message["type"]
        if kind == "RECORD":
            record = message["record"]
            self.rows[record["id"]] = Row(record, message.get("version"))
        elif kind == "ACTIVATE_VERSION":
            version = message["version"]
            for row in self.rows.values():
                if row.version is None or row.version < version:
                    row.deleted = True
            self.activations.append(version)
            self.assert_no_live_lead_deleted()
        elif kind == "STATE":
            self.state = message["value"]

    def apply_run(self, messages: list[dict[str, t.Any]]) -> None:
        """One run's messages in order, then the check a user could make after it."""
        for message in messages:
            self.apply(message)
        self.assert_no_live_lead_deleted()

    @property
    def live(self) -> dict[str, dict[str, t.Any]]:
        """`where _sdc_deleted_at is null`."""
        return {key: row.record for key, row in self.rows.items() if not row.deleted}

    @property
    def deleted(self) -> set[str]:
        return {key for key, row in self.rows.items() if row.deleted}

    def selected(self) -> dict[str, dict[str, t.Any]]:
        """MEGA's leads now, those the filters select, by id."""
        return {lead["id"]: lead for lead in self.emulator.leads if self.selects(lead)}

    def assert_no_live_lead_deleted(self) -> None:
        alive = set(self.selected())
        wrongly = sorted(alive & self.deleted)
        assert not wrongly, f"{len(wrongly)} leads alive in MEGA are marked deleted: {wrongly[:3]}"

    def assert_mirrors_mega(self) -> None:
        """The live rows are MEGA's leads, ids and values; every other row is marked deleted."""
        truth = self.selected()
        assert set(self.live) == set(truth), (
            f"live but gone from MEGA: {sorted(set(self.live) - set(truth))[:3]}; "
            f"in MEGA, not live: {sorted(set(truth) - set(self.live))[:3]}"
        )
        assert self.live == truth
        assert self.deleted == set(self.rows) - set(truth)


def mirror_config(emulator: MegaEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    """The shared test settings (sync.py) with the mirror on, as a user has it by default."""
    return tap_config(emulator, **{"reconcile_deletes": True, "page_size": 100, **overrides})


def legs(requests: list[RecordedRequest]) -> list[str]:
    """What each request was for: a page of a walk (or pass), or one of the check's counts."""
    return ["check" if r.params.get("sort_by") == "created_at" else "walk" for r in requests]


def mirror_of(state: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """The `mirror` entry of a Singer state's leads bookmark."""
    assert state is not None
    return t.cast("dict[str, t.Any]", state["bookmarks"]["leads"][mirror_module.STATE_KEY])


def run_into(
    target: SqlTarget, config: dict[str, t.Any], tmp_path: Path, *, ok: bool = True
) -> CliResult:
    """`tap-mega` in this process from the target's last STATE, its output applied to it."""
    run = run_main(config, tmp_path, state=target.state)
    if ok:
        assert run.returncode == 0, run.stderr
    target.apply_run(run.result.messages)
    return run


def run_until_unstopped(
    target: SqlTarget,
    config: dict[str, t.Any],
    tmp_path: Path,
    between: Callable[[], None],
    max_runs: int = 30,
) -> list[CliResult]:
    """Scheduled runs until one is not stopped by its budget; `between` runs after each."""
    runs: list[CliResult] = []
    while not runs or any(line in runs[-1].stderr for line in STOPPED):
        assert len(runs) < max_runs, "no progress from run to run"
        runs.append(run_into(target, config, tmp_path))
        between()
    return runs


def activations(run: CliResult) -> list[int]:
    return [m["version"] for m in run.result.messages if m["type"] == "ACTIVATE_VERSION"]


def versions(run: CliResult) -> set[int | None]:
    """The versions a run's RECORDs carried (None: a RECORD without one)."""
    return {m.get("version") for m in run.result.messages if m["type"] == "RECORD"}


class TapClock:
    """The tap's clock for pass versions and `reconcile_interval`, moved by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def fake_tap_clock(monkeypatch: pytest.MonkeyPatch, start: dt.datetime) -> TapClock:
    """Put a `TapClock` wherever a tap module imported `state.mirror.now_utc`.

    The streams import the function by name (reconcile.py), so each importer is
    patched: found by identity, a new importer cannot be missed.
    """
    clock, real = TapClock(start), mirror_module.now_utc
    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("tap_mega.") and getattr(module, "now_utc", None) is real:
            monkeypatch.setattr(module, "now_utc", clock)
            patched.append(name)
    assert "tap_mega.streams.reconcile" in patched, patched
    return clock
