"""Benchmark: what the mirror (issue 20) costs, a reconcile pass and a quiet hourly run.

Windows as in bench_budget.py: 60 a second and 1,000 a minute, MEGA's 60 a
minute and 1,000 an hour 60 times faster, a sliding log, headers breaking ties
toward the minute window. For each N:

1. A first sync of N leads (itself a pass) on an emulator without limits, not
   measured: it only makes the state a scheduled run starts from.
2. The pass row: the same leads on a fresh budget, 1% of them deleted. One
   `tap-mega --state` run: its incremental walk, the vanish check (2 requests)
   that sees them go, then the pass over every live lead, and one
   ACTIVATE_VERSION. The pass's requests against ceil(live / 100); the run's
   first to last request against the model's floor for all its requests
   (`limiter_floor`: a zero-latency client sending each the instant the model
   admits it).
3. The quiet row: the run after it, nothing changed in MEGA: its requests
   against 1 walk + 2 check.

Each run without a catalog also samples custom fields (one request), as
`tap-mega --config` does alone; under Meltano that request is discovery's.

Usage (the project's venv or the benchmark venv, see harness.py):
    .venv/bin/python benchmarks/bench_reconcile.py [--leads 20000,150000]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

import harness

from tap_mega.testing.emulator import MegaEmulator, RateWindow, limiter_floor

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator.wire import RecordedRequest

WINDOWS = [RateWindow(60, 1.0), RateWindow(1000, 60.0)]
PAGE = 100
DELETED_SHARE = 0.01
STATE_LINE = b'{"type":"STATE"'
ACTIVATE_LINE = b'{"type":"ACTIVATE_VERSION"'


@dataclass(frozen=True)
class Legs:
    """One run's requests by what they were for, in the order they were sent."""

    sample: int
    walk: int
    check: int
    reconcile: int

    @classmethod
    def of(cls, requests: list[RecordedRequest]) -> Legs:
        """Sample (newest updated first), check (newest created first), walk and pass.

        The walk and the pass both read oldest change first: the pass is what comes
        between the check after the walk and the check after the pass.
        """
        kinds = [
            "check"
            if r.params.get("sort_by") == "created_at"
            else "sample"
            if r.params.get("sort_dir") == "desc"
            else "read"
            for r in requests
        ]
        checks = [index for index, kind in enumerate(kinds) if kind == "check"]
        start = checks[1] + 1 if len(checks) > 1 else len(kinds)
        end = checks[2] if len(checks) > 2 else len(kinds)
        return cls(
            sample=kinds.count("sample"),
            walk=kinds[:start].count("read"),
            check=len(checks),
            reconcile=kinds[start:end].count("read"),
        )


@dataclass(frozen=True)
class Row:
    leads: int
    live: int
    pass_run: harness.Run
    pass_legs: Legs
    span: float
    floor: float
    activations: int
    quiet_run: harness.Run
    quiet_legs: Legs


def last_state(output: Path) -> dict[str, t.Any]:
    """The value of the last STATE a run wrote: what the next run starts from."""
    state: dict[str, t.Any] = {}
    with output.open("rb") as handle:
        for line in handle:
            if line.startswith(STATE_LINE):
                state = json.loads(line)["value"]
    return state


def lines_starting(output: Path, prefix: bytes) -> int:
    with output.open("rb") as handle:
        return sum(line.startswith(prefix) for line in handle)


def run_tap(
    name: str, emu: MegaEmulator, folder: Path, state: dict[str, t.Any] | None
) -> tuple[harness.Run, Path]:
    """`tap-mega --config [--state]` against `emu`, its output kept in `folder`."""
    config = harness.write_config(harness.tap_config(emu), folder)
    command = harness.tap_mega_command(config)
    if state is not None:
        state_path = folder / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    output = folder / f"{name}.jsonl"
    run = harness.run_contender(name, command, emu, stdout_path=output)
    return run, output


def measure(leads: int, folder: Path) -> Row:
    """The three runs for `leads` leads: a first sync, the pass, a quiet run."""
    with MegaEmulator(n_leads=leads, seed=11, rate_windows=[]) as first_emu:
        first, output = run_tap("first", first_emu, folder, None)
        if first.returncode != 0:
            msg = f"the first sync failed: {first.stderr_tail}"
            raise SystemExit(msg)
        copied = (first_emu.leads, first_emu.token, first_emu.customer_id)
    state = last_state(output)
    emu = MegaEmulator(
        leads=copied[0],
        token=copied[1],
        customer_id=copied[2],
        rate_windows=WINDOWS,
        report_tie="minute",
    ).start()
    try:
        emu.delete_leads(count=max(1, round(leads * DELETED_SHARE)), seed=12)
        live = len(emu.leads)
        served_before = emu.request_count
        pass_run, output = run_tap("pass", emu, folder, state)
        requests = emu.requests[served_before:]
        served = [r.at for r in requests if r.status == 200]
        span = served[-1] - served[0] if served else math.nan
        floor = limiter_floor(len(served), WINDOWS, "sliding")
        activations = lines_starting(output, ACTIVATE_LINE)
        pass_legs = Legs.of(requests)
        served_before = emu.request_count
        quiet_run, _ = run_tap("quiet", emu, folder, last_state(output))
        quiet_legs = Legs.of(emu.requests[served_before:])
    finally:
        emu.stop()
    return Row(leads, live, pass_run, pass_legs, span, floor, activations, quiet_run, quiet_legs)


def ratio(span: float, floor: float) -> str:
    """`span / floor`, or a dash when the floor is 0 (every request fits one second)."""
    return f"{span / floor:.3f}" if floor > 0 else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", default="20000,150000", help="comma-separated sizes")
    args = parser.parse_args()
    sizes = [int(text) for text in args.leads.split(",")]

    rows: list[Row] = []
    started = time.monotonic()
    for leads in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            row = measure(leads, Path(tmp))
        legs, run = row.pass_legs, row.pass_run
        print(
            f"{leads:,} leads: pass {legs.reconcile} requests for {row.live:,} live "
            f"(walk {legs.walk}, check {legs.check}, sample {legs.sample}), "
            f"{row.span:.1f}s of {row.floor:.1f}s floor, rc={run.returncode} "
            f"429s={run.rate_limited} records={run.records} activate={row.activations}; "
            f"quiet {row.quiet_run.requests} requests rc={row.quiet_run.returncode}",
            flush=True,
        )
        rows.append(row)

    pass_table = [
        (
            "| leads (live) | pass requests | / ceil(live / 100) | run's requests "
            "(sample + walk + check + pass) | first to last request | / floor | tap CPU "
            "| wall time | 429s | records | ACTIVATE_VERSION | exit |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    quiet_table = [
        (
            "| leads | requests | walk + check | / (1 walk + 2 check) | sample "
            "| leads the walk re-read (lookback_window) | wall time | exit |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        legs, run = row.pass_legs, row.pass_run
        pages = math.ceil(row.live / PAGE)
        pass_table.append(
            f"| {row.leads:,} ({row.live:,}) | {legs.reconcile:,} | "
            f"{legs.reconcile / pages:.3f} | {run.requests:,} ({legs.sample} + {legs.walk} + "
            f"{legs.check} + {legs.reconcile:,}) | {row.span:.1f} s | "
            f"{ratio(row.span, row.floor)} | {run.cpu_seconds:.1f} s | {run.seconds:.1f} s | "
            f"{run.rate_limited} | "
            f"{run.records:,} | {row.activations} | {run.returncode} |"
        )
        quiet, q = row.quiet_run, row.quiet_legs
        quiet_table.append(
            f"| {row.leads:,} | {quiet.requests} | {q.walk} + {q.check} | "
            f"{(q.walk + q.check) / 3:.2f} | {q.sample} | {quiet.records:,} | "
            f"{quiet.seconds:.1f} s | "
            f"{quiet.returncode} |"
        )
    section = "\n".join(
        [
            "## Reconcile pass and quiet run (issue 20), 60/1s + 1,000/60s windows, sliding log",
            "",
            harness.machine(),
            f"({(time.monotonic() - started) / 60:.0f} minutes for the whole run.)",
            "",
            (
                "A run from the state of a first sync, 1% of the leads deleted since: its "
                "walk, the check that sees them go, the pass over every live lead."
            ),
            "",
            *pass_table,
            "",
            "The run after it, nothing changed in MEGA:",
            "",
            *quiet_table,
            "",
            (
                "Pass target: ceil(live / 100) requests (+1 for a trailing empty page), "
                "exactly one ACTIVATE_VERSION, zero 429s. Floor: a zero-latency client "
                "sending each of the run's requests the instant the sliding log admits it "
                "(`limiter_floor`), from the first admission; below ~1,000 requests the "
                "floor is the 60/1s window's, a few seconds, which the tap's own CPU "
                "(about 100 leads a page) also bounds. Quiet target: 1 walk + 2 check "
                "requests (plus the custom-field sample a run without a catalog sends); "
                "the walk re-reads the leads updated in the 5 minutes (`lookback_window`) "
                "before the bookmark, one request a 100 of them. Wall time includes process "
                "start-up."
            ),
        ]
    )
    print(section)
    harness.append_results(section)


if __name__ == "__main__":
    main()
