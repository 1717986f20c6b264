"""SIGKILL at random points of a 20,000-lead sync, resumed from the last STATE each time.

The target here is the smallest one that merges on `id` (a dict, upserting each
RECORD) and keeps the last STATE it received, which is what a Singer target
commits; the Postgres path is not used. A kill can cut the last line short: a
target drops an incomplete line, and so does this one.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest

from tap_mega.testing.emulator import MegaEmulator
from tests.conftest import spawn_cli, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

LEADS = 20_000
SEEDED_RUNS = 20
PARALLEL = 2  # two seeded runs at a time: the suite's machine has two cores


class MergeTarget:
    """Upserts RECORDs on `id`; remembers the last whole STATE line."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, t.Any]] = {}
        self.state: dict[str, t.Any] | None = None
        self.emitted: set[str] = set()
        #: The whole lines of each run, for replaying into a real target.
        self.runs: list[list[str]] = []

    def take(self, line: str) -> bool:
        """Apply one line; False for a line cut short by the kill."""
        if not line.endswith("\n"):
            return False
        message = json.loads(line)
        self.runs[-1].append(line)
        if message["type"] == "RECORD":
            record = message["record"]
            self.rows[record["id"]] = record
            self.emitted.add(record["id"])
        elif message["type"] == "STATE":
            self.state = message["value"]
        return True


def run_until_killed(
    config: dict[str, t.Any],
    tmp_path: Path,
    target: MergeTarget,
    *,
    kill_after_lines: int | None,
    kill_after_seconds: float | None,
) -> int | None:
    """One run from the target's state; returns the exit code, or None if killed."""
    proc = spawn_cli(config, tmp_path, state=target.state)
    target.runs.append([])
    assert proc.stdout is not None
    assert proc.stderr is not None
    timer = None
    if kill_after_seconds is not None:
        timer = threading.Timer(kill_after_seconds, proc.send_signal, (signal.SIGKILL,))
        timer.start()
    killed = False
    for lines, line in enumerate(proc.stdout, start=1):
        if not target.take(line):
            break
        if kill_after_lines is not None and lines >= kill_after_lines and not killed:
            proc.send_signal(signal.SIGKILL)
            killed = True
    if timer is not None:
        timer.cancel()
    stderr = proc.stderr.read()
    code = proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    if code == -signal.SIGKILL:
        return None
    assert code == 0, stderr
    return code


def crash_and_resume(emulator: MegaEmulator, tmp_path: Path, seed: int) -> tuple[
    MergeTarget, int]:
    """Kill 1-4 times at random, then let the last run finish; returns the target."""
    rng = random.Random(seed)  # noqa: S311 - reproducible kill points
    config = tap_config(emulator, page_size=100)
    target = MergeTarget()
    kills = 0
    for _ in range(rng.randint(1, 4)):
        by_time = rng.random() < 0.3  # some kills land before any output
        code = run_until_killed(
            config, tmp_path, target,
            kill_after_lines=None if by_time else rng.randint(1, 8000),
            kill_after_seconds=rng.uniform(0.05, 1.5) if by_time else None,
        )
        if code is None:
            kills += 1
        else:
            return target, kills
    code = run_until_killed(config, tmp_path, target, kill_after_lines=None,
                            kill_after_seconds=None)
    assert code == 0
    return target, kills


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_loses_nothing(tmp_path: Path) -> None:
    with MegaEmulator(n_leads=LEADS, seed=20, rate_windows=[]) as emulator:
        truth = {lead["id"]: lead for lead in emulator.leads}
        started = time.monotonic()

        def one_run(seed: int) -> tuple[MergeTarget, int]:
            run_dir = tmp_path / f"run-{seed}"
            run_dir.mkdir()
            return crash_and_resume(emulator, run_dir, seed)

        with ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(one_run, range(SEEDED_RUNS)))
        elapsed = time.monotonic() - started

    total_kills = sum(kills for _, kills in results)
    assert total_kills >= SEEDED_RUNS, "every seeded run is killed at least once"
    for seed, (target, _) in enumerate(results):
        assert target.emitted == set(truth), f"seed {seed}: a lead was never emitted"
        assert set(target.rows) == set(truth)
        for lead_id, record in target.rows.items():
            lead = truth[lead_id]
            assert record == lead  # as MEGA spelled it
    print(f"{SEEDED_RUNS} seeded runs, {total_kills} SIGKILLs, {elapsed:.1f}s")  # noqa: T201
