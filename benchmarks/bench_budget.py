"""Benchmark 1: budget efficiency under MEGA's two windows, in every reading of the limiter.

MEGA allows 60 requests a minute and 1,000 an hour; here the emulator allows 60
a second and 1,000 a minute (60 times faster), so a backfill that would take
hours takes about a minute. MEGA's docs do not say how its limiter counts, so
each row is one reading the emulator plays: an exact sliding log, fixed
windows opened at the first hit, clock-aligned windows, a token bucket, and
the sliding log with 0-20 ms between a request's arrival and its count. Every
row's headers break ties toward the minute window (the reading that hid the
hourly window from the tap before issue 15).

Each contender gets a fresh emulator (a fresh budget) with the same leads, and
is measured on: the time from its first request to its last against the
model's own floor (a zero-latency client sending each request the instant the
model admits it, `limiter_floor`), 429s received, requests made, records
delivered. Wall time, which includes the process's start-up, is shown too.

Usage (benchmark venv, see harness.py):
    benchmarks/.venv/bin/python benchmarks/bench_budget.py [--leads 150000] [--no-dlt]
        [--only sliding,fixed,aligned,bucket,latency]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import harness

from tap_mega.testing.emulator import MegaEmulator, RateWindow, limiter_floor

WINDOWS = [RateWindow(60, 1.0), RateWindow(1000, 60.0)]
#: Where the clock-aligned grid starts: not where a contender's first request lands.
ALIGNED_PHASE = 0.37
LATENCY_MS = (0.0, 20.0)


@dataclass(frozen=True)
class Reading:
    """One row: how the emulator's limiter counts."""

    name: str
    model: str
    latency_ms: tuple[float, float] | None = None

    def describe(self) -> str:
        latency = (
            f", {self.latency_ms[0]:g}-{self.latency_ms[1]:g} ms latency"
            if (self.latency_ms)
            else ""
        )
        return {
            "sliding": "sliding log",
            "fixed": "fixed windows from the first hit",
            "aligned": "clock-aligned windows",
            "bucket": "token bucket",
        }[self.model] + latency


READINGS = [
    Reading("sliding", "sliding"),
    Reading("fixed", "fixed"),
    Reading("aligned", "aligned"),
    Reading("bucket", "bucket"),
    Reading("latency", "sliding", LATENCY_MS),
]


@dataclass(frozen=True)
class Row:
    reading: Reading
    run: harness.Run
    span: float
    floor: float


def emulator_for(reading: Reading, leads: int) -> tuple[MegaEmulator, float]:
    """A fresh budget in `reading`, and the aligned grid's phase on the emulator's clock."""
    phase = (time.monotonic() + ALIGNED_PHASE) % WINDOWS[-1].seconds
    emu = MegaEmulator(
        n_leads=leads,
        seed=11,
        rate_windows=WINDOWS,
        limiter=reading.model,
        limiter_phase=phase,
        latency_ms=reading.latency_ms,
        report_tie="minute",
    )
    return emu.start(), phase


def measure(
    reading: Reading, name: str, command: list[str], marker: bytes | None, leads: int
) -> Row:
    """Run one contender against a fresh emulator; time its first to last request."""
    emu, phase = emulator_for(reading, leads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config_path = harness.write_config(harness.tap_config(emu), Path(tmp))
            run = harness.run_contender(
                name,
                command(config_path),
                emu,
                record_marker=marker,
                keep_output=marker is not None,
            )
        served = [r.at for r in emu.requests if r.status == 200]
    finally:
        emu.stop()
    span = served[-1] - served[0] if served else math.nan
    # The floor starts at the first admission, where the aligned grid stood then.
    floor = limiter_floor(len(served), WINDOWS, reading.model, phase - served[0])
    return Row(reading, run, span, floor)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=150_000)
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument(
        "--only",
        default=",".join(r.name for r in READINGS),
        help="comma-separated rows to run (default: all)",
    )
    args = parser.parse_args()
    wanted = set(args.only.split(","))

    contenders = [
        ("tap-mega", harness.tap_mega_command, b'"type":"RECORD"'),
        ("plain SDK RESTStream", harness.plain_sdk_command, b'"type":"RECORD"'),
    ]
    if not args.no_dlt:
        contenders.append(("dlt rest_api", harness.dlt_command, None))
    rows: list[Row] = []
    started = time.monotonic()
    for reading in (r for r in READINGS if r.name in wanted):
        for name, command, marker in contenders:
            row = measure(reading, name, command, marker, args.leads)
            run = row.run
            print(
                f"{reading.name} / {name}: {row.span:.1f}s of {row.floor:.1f}s floor "
                f"(wall {run.seconds:.1f}s) rc={run.returncode} requests={run.requests} "
                f"429s={run.rate_limited} records={run.records}",
                flush=True,
            )
            if run.returncode != 0:
                print(run.stderr_tail)
            rows.append(row)

    table = [
        (
            "| limiter | contender | first to last request | / floor | wall time | 429s "
            "| requests (2xx + 429) | records | exit |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        run = row.run
        ok_requests = run.requests - run.rate_limited
        table.append(
            f"| {row.reading.describe()} | {run.name} | {row.span:.1f} s | "
            f"{row.span / row.floor:.3f} | {run.seconds:.1f} s | {run.rate_limited} | "
            f"{ok_requests} + {run.rate_limited} | {run.records:,} | {run.returncode} |"
        )
    pages = math.ceil(args.leads / 100)
    section = "\n".join(
        [
            (
                f"## Budget efficiency: {args.leads:,} leads, 60/1s + 1,000/60s windows, "
                "every limiter reading"
            ),
            "",
            harness.machine(),
            f"({(time.monotonic() - started) / 60:.0f} minutes for the whole run.)",
            "",
            *table,
            "",
            (
                f"Floor: a zero-latency client sending each of the {pages:,} list requests the "
                "instant the row's model admits it (`limiter_floor`), from the first admission. "
                "The headers break ties toward the minute window. Target for tap-mega: at most "
                "1.05 times the floor and zero 429s in every row (the issue aims at 1.5 under "
                "a token bucket). Wall time includes process start-up."
            ),
        ]
    )
    print(section)
    harness.append_results(section)


if __name__ == "__main__":
    main()
