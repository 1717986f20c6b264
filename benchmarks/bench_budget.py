"""Benchmark 1: budget efficiency under MEGA's two windows, scaled down in time.

MEGA allows 60 requests a minute and 1,000 an hour; here the emulator allows 60
a second and 1,000 a minute (60 times faster), so a backfill that would take
hours takes about a minute. Each contender gets a fresh emulator (a fresh
budget) with the same leads, and is measured on: wall time against the
theoretical minimum, 429s received, list requests made, records delivered.

The theoretical minimum is the admission time of the last request when every
request is sent the instant both windows allow it and takes no time at all
(the emulator's sliding windows, replayed without a network).

With ``--limiter`` (another of the emulator's readings of the docs: fixed
windows, clock-aligned windows, a token bucket) or ``--latency`` (milliseconds
between a request's arrival and its count), the minimum is that model's own
floor, computed the same way with the model's window counts.

Usage (benchmark venv, see harness.py):
    benchmarks/.venv/bin/python benchmarks/bench_budget.py [--leads 150000] [--no-dlt]
        [--limiter sliding|fixed|aligned|bucket] [--latency MS|LOW-HIGH]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import harness

from tap_mega.testing.emulator import LIMITER_MODELS, MegaEmulator, RateWindow, limiter_floor

WINDOWS = [RateWindow(60, 1.0), RateWindow(1000, 60.0)]


def theoretical_minimum(requests: int, windows: list[RateWindow]) -> float:
    """Seconds from the first admission to the last, sending greedily, with zero latency."""
    times: list[float] = []
    at = 0.0
    for _ in range(requests):
        for window in windows:
            if len(times) >= window.limit:
                at = max(at, times[-window.limit] + window.seconds)
        times.append(at)
    return times[-1] - times[0]


def latency_range(text: str) -> tuple[float, float]:
    """``--latency``: ``MS`` or ``LOW-HIGH`` milliseconds."""
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def describe(latency: tuple[float, float] | None) -> str:
    """``0-20 ms``, or ``none``."""
    return "none" if latency is None else f"{latency[0]:g}-{latency[1]:g} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=150_000)
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--limiter", choices=LIMITER_MODELS, default="sliding",
                        help="how the emulator's windows count (default: sliding log)")
    parser.add_argument("--latency", type=latency_range, default=None, metavar="MS|LOW-HIGH",
                        help="milliseconds between a request's arrival and its count")
    args = parser.parse_args()
    reading = args.limiter != "sliding" or args.latency is not None

    pages = math.ceil(args.leads / 100)
    if reading:
        minimum = limiter_floor(pages, WINDOWS, args.limiter)
    else:
        minimum = theoretical_minimum(pages, WINDOWS)
    contenders = [
        ("tap-mega", harness.tap_mega_command, b'"type":"RECORD"'),
        ("plain SDK RESTStream, default backoff", harness.plain_sdk_command, b'"type":"RECORD"'),
    ]
    if not args.no_dlt:
        contenders.append(("dlt rest_api, cursor paginator", harness.dlt_command, None))
    runs = []
    for name, command, marker in contenders:
        emu = (
            MegaEmulator(n_leads=args.leads, seed=11, rate_windows=WINDOWS,
                         limiter=args.limiter, latency_ms=args.latency).start()
            if reading else harness.emulator(args.leads, WINDOWS)
        )
        try:
            with tempfile.TemporaryDirectory() as tmp:
                config_path = harness.write_config(harness.tap_config(emu), Path(tmp))
                run = harness.run_contender(
                    name, command(config_path), emu, record_marker=marker,
                    keep_output=marker is not None,
                )
        finally:
            emu.stop()
        print(
            f"{name}: {run.seconds:.1f}s rc={run.returncode} requests={run.requests} "
            f"429s={run.rate_limited} records={run.records}"
        )
        if run.returncode != 0:
            print(run.stderr_tail)
        runs.append(run)

    rows = [
        "| contender | wall time | / minimum | 429s | requests (2xx + 429) | records | exit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        ok_requests = run.requests - run.rate_limited
        ratio = f"{run.seconds / minimum:.3f}" if minimum else "n/a"  # within one burst
        rows.append(
            f"| {run.name} | {run.seconds:.1f} s | {ratio} | "
            f"{run.rate_limited} | {ok_requests} + {run.rate_limited} | "
            f"{run.records:,} | {run.returncode} |"
        )
    section = "\n".join(
        [
            f"## Budget efficiency: {args.leads:,} leads, 60/1s + 1,000/60s windows"
            + (f", {args.limiter} limiter, latency {describe(args.latency)}" if reading else ""),
            "",
            harness.machine(),
            "",
            f"Theoretical minimum for {pages:,} list requests: {minimum:.1f} s.",
            "",
            *rows,
            "",
            (
                "Target for tap-mega: at most 1.05 times the minimum, zero 429s, exactly "
                f"{pages:,} list requests. Wall time includes process start-up."
            ),
        ]
    )
    print(section)
    harness.append_results(section)


if __name__ == "__main__":
    main()
