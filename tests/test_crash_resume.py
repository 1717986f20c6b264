"""SIGKILL at random points of a 20,000-lead sync, resumed from the last STATE each time.

The target here is the smallest one that merges on `id` (a dict, upserting each
RECORD) and keeps the last STATE it received, which is what a Singer target
commits; the Postgres path is not used. A kill can cut the last line short: a
target drops an incomplete line, and so does this one.
"""

from __future__ import annotations

import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest

from tap_mega.testing.emulator import MegaEmulator
from tests.helpers.crash import MergeTarget, crash_and_resume

if t.TYPE_CHECKING:
    from pathlib import Path

LEADS = 20_000
SEEDED_RUNS = 20
PARALLEL = 2  # two seeded runs at a time: the suite's machine has two cores


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
