"""Reconcile passes cut by SIGKILL and SIGTERM, then resumed: no live lead is ever retired.

Each signalled run is `tap-mega` in its own process, as a scheduler runs it; its
stdout goes line by line into a SQL target that honours ACTIVATE_VERSION
(helpers/mirror.py) and checks, at every ACTIVATE_VERSION and after every run,
that no lead alive in MEGA is marked deleted. The next run starts from the last
whole STATE line the target kept. Runs that need no signal run in this process.
test_mirror.py cuts passes by budget stops, MEGA errors and at every line.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest

from tap_mega.testing.emulator import Fault, MegaEmulator
from tests.helpers.cli import error_lines, spawn_cli
from tests.helpers.crash import run_until_killed
from tests.helpers.mirror import (
    SqlTarget,
    activations,
    mirror_config,
    mirror_of,
    run_into,
)

if t.TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from pathlib import Path

LEADS = 2_000
SEEDED_RUNS = 8
PARALLEL = 2  # the suite's machine has two cores


def change_mega(emulator: MegaEmulator, seed: int) -> None:
    """What an hour does to an account: deletions, changes, new leads."""
    emulator.delete_leads(count=40, seed=seed)
    emulator.update_leads(count=30, seed=seed + 1, status="lost")
    emulator.insert_leads(20, seed=seed + 2)


def killed_and_resumed(seed: int, tmp_path: Path) -> tuple[int, int]:
    """Kill 1-4 times at random lines, then finish; returns (kills, passes activated)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible kill points
    with MegaEmulator(n_leads=LEADS, seed=seed, rate_windows=[]) as emulator:
        target = SqlTarget(emulator)
        config = mirror_config(emulator)
        # Even seeds cut a first sync; odd ones the pass the next run starts after changes.
        if seed % 2:
            run_until_killed(
                config, tmp_path, target, kill_after_lines=None, kill_after_seconds=None
            )
            change_mega(emulator, seed)
        done = len(target.activations)
        kills = 0
        for _ in range(rng.randint(1, 4)):
            code = run_until_killed(
                config,
                tmp_path,
                target,
                kill_after_lines=rng.randint(1, LEADS + 100),
                kill_after_seconds=None,
            )
            target.assert_no_live_lead_deleted()
            if code is not None:
                break
            kills += 1
        else:
            run_until_killed(
                config, tmp_path, target, kill_after_lines=None, kill_after_seconds=None
            )
        target.assert_mirrors_mega()
        passes = set(target.activations[done:])
        # Activated once, or again when a kill fell between ACTIVATE_VERSION and its STATE.
        assert len(passes) == 1, f"seed {seed}: one pass, one version: {target.activations}"
        assert mirror_of(target.state)["pass"] is None
        return kills, len(passes)


@pytest.mark.slow
def test_a_pass_killed_at_random_lines_resumes_and_never_retires_a_live_lead(
    tmp_path: Path,
) -> None:
    def one(seed: int) -> tuple[int, int]:
        run_dir = tmp_path / f"run-{seed}"
        run_dir.mkdir()
        return killed_and_resumed(seed, run_dir)

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(one, range(SEEDED_RUNS)))

    assert sum(kills for kills, _ in results) >= SEEDED_RUNS, "most seeded runs were killed"


INTERRUPTED = (
    "tap-mega: error: interrupted by SIGTERM: stopped; the last STATE written "
    "is where the next run resumes"
)


def sigterm_at_request(
    proc: subprocess.Popen[str], emulator: MegaEmulator, k: int
) -> tuple[int, str, str]:
    """SIGTERM once MEGA holds request `k`; the exit code, stdout and stderr.

    Both pipes are read as the child writes, so it never blocks on a full one.
    """
    streams: dict[str, list[str]] = {"out": [], "err": []}
    readers = [
        threading.Thread(target=streams[name].extend, args=(pipe,), daemon=True)
        for name, pipe in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 30
        while emulator.request_count < k:
            assert time.monotonic() < deadline, "the run never reached the held request"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for reader in readers:
        reader.join(timeout=30)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return code, "".join(streams["out"]), "".join(streams["err"])


#: The run after the deletions on 1,000 leads, pages of 100: the walk (1), the check's
#: two requests (2, 3), the pass's pages (4 on); the request the signal comes during.
HELD = {"the walk": 1, "the check": 2, "the check's second request": 3, "the pass": 6}


@pytest.mark.slow
@pytest.mark.parametrize("held", HELD.values(), ids=HELD.keys())
def test_sigterm_while_a_run_waits_on_mega_stops_it_and_the_next_finishes_the_pass(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path, held: int
) -> None:
    emulator = make_emulator(n_leads=1_000, seed=5)
    target = SqlTarget(emulator)
    config = mirror_config(emulator)
    [first] = activations(run_into(target, config, tmp_path))
    emulator.delete_leads(count=10, seed=1)
    held += emulator.request_count
    emulator.add_fault(Fault("slow", at_request=held, seconds=5))

    code, stdout, stderr = sigterm_at_request(
        spawn_cli(config, tmp_path, state=target.state), emulator, held
    )

    assert code == 128 + signal.SIGTERM, stderr
    assert error_lines(stderr) == [INTERRUPTED]
    assert '"ACTIVATE_VERSION"' not in stdout
    target.runs.append([])
    for line in stdout.splitlines(keepends=True):
        assert target.take(line), "whole lines only"
    target.assert_no_live_lead_deleted()
    cut = mirror_of(target.state)["pass"]
    resumed = run_into(target, config, tmp_path)
    [version] = activations(resumed)
    assert version > first
    if cut is not None:
        assert (cut["version"], cut["emitted"]) == (version, 200)
        assert (
            f"Resuming the reconcile pass (version {version}): 200 leads read in earlier runs."
            in resumed.stderr
        )
    target.assert_mirrors_mega()
