"""Seeded fault storms with leads changing mid-sync: the merged result equals MEGA's truth.

Transient faults (5xx, dropped connections, timeouts, 429s) are retried within
a run. A malformed or misshapen 200 ends the run by design (we stop rather than
guess); the scheduler's next run resumes from the last STATE, as here. The
target merges on `id`, as the README asks of users.
"""

from __future__ import annotations

import io
import random
import typing as t
from contextlib import redirect_stdout

import pytest

from tap_mega.api.client import MegaStream
from tap_mega.errors import MegaError
from tap_mega.tap import TapMega
from tap_mega.testing.emulator import Fault
from tests.helpers.sync import SyncResult, parse_messages, tap_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator

STORMS = 8
MAX_RUNS = 30


def run_until_error(
    config: dict[str, t.Any], state: dict[str, t.Any] | None
) -> tuple[SyncResult, MegaError | None]:
    """One run in this process; what it wrote, and the error that ended it, if any."""
    buffer = io.StringIO()
    error = None
    with redirect_stdout(buffer):
        try:
            TapMega(config=config, state=state, parse_env_config=False).sync_all()
        except MegaError as exc:
            error = exc
    return SyncResult(parse_messages(buffer.getvalue())), error


def storm(rng: random.Random, seed: int) -> list[Fault]:
    """A random mix of every kind of trouble, different for every seed."""
    return [
        Fault("status", probability=rng.uniform(0.03, 0.12), seed=seed, status=503),
        Fault("status", probability=rng.uniform(0.02, 0.06), seed=seed + 1, status=502, html=True),
        Fault("drop", probability=rng.uniform(0.02, 0.08), seed=seed + 2),
        Fault("rate_limit", probability=rng.uniform(0.02, 0.08), seed=seed + 3, retry_after=0),
        Fault("slow", probability=0.05, seed=seed + 4, seconds=1.5, count=1),
        Fault("malformed", probability=rng.uniform(0.01, 0.04), seed=seed + 5),
        Fault("bad_shape", probability=0.01, seed=seed + 6),
    ]


def schedule_changes(emulator: MegaEmulator, rng: random.Random) -> None:
    """Leads updated and inserted while the sync is under way."""
    for k in rng.sample(range(2, 40), 8):
        if rng.random() < 0.5:
            count, change_seed = rng.randint(1, 30), rng.getrandbits(16)
            emulator.on_request(
                k, lambda emu, n=count, s=change_seed: emu.update_leads(count=n, seed=s)
            )
        else:
            count, change_seed = rng.randint(1, 20), rng.getrandbits(16)
            emulator.on_request(k, lambda emu, n=count, s=change_seed: emu.insert_leads(n, seed=s))


@pytest.mark.parametrize("seed", range(STORMS))
def test_fault_storm_with_changes_mid_sync_ends_equal_to_the_truth(
    make_emulator: t.Callable[..., MegaEmulator],
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(MegaStream, "sleep", lambda _self, seconds: waits.append(seconds))
    rng = random.Random(seed)  # noqa: S311 - reproducible storms
    emulator = make_emulator(n_leads=3000, seed=100 + seed)
    for fault in storm(rng, seed * 10):
        emulator.add_fault(fault)
    schedule_changes(emulator, rng)
    config = tap_config(emulator, page_size=100, request_timeout=1)

    target: dict[str, dict[str, t.Any]] = {}
    state: dict[str, t.Any] | None = None
    errors: list[str] = []
    for _ in range(MAX_RUNS):
        result, error = run_until_error(config, state)
        for record in result.records:
            target[record["id"]] = record
        if result.states:
            state = result.final_state
        if error is None:
            break
        errors.append(str(error))
        assert "\n" not in str(error)
    else:
        pytest.fail(f"no run finished in {MAX_RUNS}: {errors}")

    truth = {lead["id"]: lead for lead in emulator.leads}  # as MEGA spelled it
    assert set(target) == set(truth)
    assert target == truth
    faulted = [r for r in emulator.requests if r.status != 200]
    assert faulted, "the storm must actually hit the sync"
