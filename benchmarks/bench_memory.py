"""Benchmark 3: peak RSS of the tap for 100,000 and 1,000,000 leads.

The tap runs as a user runs it, stdout to /dev/null, no rate limit; its peak
resident set size comes from `wait4`. Flat means the second figure is not
larger than the first by more than noise: no per-lead state is kept.

Usage (benchmark venv or the project's .venv):
    benchmarks/.venv/bin/python benchmarks/bench_memory.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import harness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()

    runs = []
    for size in args.sizes:
        emu = harness.emulator(size)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                config_path = harness.write_config(harness.tap_config(emu), Path(tmp))
                run = harness.run_contender(
                    f"tap-mega, {size:,} leads",
                    harness.tap_mega_command(config_path),
                    emu,
                    keep_output=False,
                )
        finally:
            emu.stop()
        print(
            f"{run.name}: peak RSS {run.peak_rss_mb:.1f} MB, {run.seconds:.1f}s, "
            f"rc={run.returncode}, requests={run.requests}"
        )
        runs.append((size, run))

    rows = ["| leads | peak RSS | wall time | requests | exit |", "| --- | --- | --- | --- | --- |"]
    rows += [
        f"| {size:,} | {run.peak_rss_mb:.1f} MB | {run.seconds:.1f} s | {run.requests:,} | "
        f"{run.returncode} |"
        for size, run in runs
    ]
    section = "\n".join(
        [
            "## Memory: peak RSS of the tap",
            "",
            harness.machine(),
            "",
            *rows,
            "",
            "Target: under 100 MB, and flat between the sizes.",
        ]
    )
    print(section)
    harness.append_results(section)


if __name__ == "__main__":
    main()
