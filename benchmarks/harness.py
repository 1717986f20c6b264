"""What every benchmark shares: an emulator, the contenders as subprocesses, measurements.

Each contender runs in its own process so that wall time and peak RSS are its
own (``os.wait4`` gives the child's rusage). The emulator runs in this process.

Set-up, once, from the repository root (dlt only ever lives in this venv):

    python3 -m venv benchmarks/.venv
    benchmarks/.venv/bin/pip install -e . -r benchmarks/requirements.txt
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

from tap_mega.testing.emulator import MegaEmulator, RateWindow

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


@dataclass
class Run:
    """One contender's run against one emulator."""

    name: str
    seconds: float
    cpu_seconds: float
    returncode: int
    peak_rss_mb: float
    requests: int
    rate_limited: int
    records: int
    stderr_tail: str


def machine() -> str:
    """The line RESULTS.md records each run under."""
    cpu = platform.processor() or platform.machine()
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def emulator(n_leads: int, windows: list[RateWindow] | None = None) -> MegaEmulator:
    """A started emulator with `n_leads` leads and the given rate windows (none by default)."""
    return MegaEmulator(n_leads=n_leads, seed=11, rate_windows=windows or []).start()


def tap_config(emu: MegaEmulator, **extra: t.Any) -> dict[str, t.Any]:
    """Settings for tap-mega and the other contenders, pointing at `emu`."""
    return {"token": emu.token, "customer_id": emu.customer_id, "api_url": emu.url, **extra}


def count_records(path: Path, marker: bytes) -> int:
    """Lines of a contender's output that are records."""
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if marker in line[:40]:
                count += 1
    return count


def run_contender(  # noqa: PLR0913
    name: str,
    command: list[str],
    emu: MegaEmulator,
    *,
    record_marker: bytes | None = b'"type":"RECORD"',
    keep_output: bool = True,
    env: dict[str, str] | None = None,
    stdout_path: Path | None = None,
) -> Run:
    """Run `command`, stdout to a file (or /dev/null), and measure it.

    `stdout_path`: keep the output there, for a later run's `--state`.
    """
    before_requests, before_429 = emu.request_count, emu.rate_limited_count
    with tempfile.TemporaryDirectory() as tmp:
        out_path = stdout_path or Path(tmp) / "out.jsonl"
        err_path = Path(tmp) / "err.txt"
        target = out_path if keep_output else Path(os.devnull)
        with target.open("wb") as out, err_path.open("wb") as err:
            started = time.monotonic()
            child = subprocess.Popen(
                command, stdout=out, stderr=err, env={**os.environ, **(env or {})}
            )
            peak = PeakWatcher(child.pid)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.monotonic() - started
            peak.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        records = count_records(out_path, record_marker) if keep_output and record_marker else -1
        stderr = err_path.read_text(errors="replace")
        if records == -1:
            records = parse_reported_records(stderr)
    return Run(
        name=name,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        returncode=child.returncode,
        peak_rss_mb=peak.peak_kb / 1024,
        requests=emu.request_count - before_requests,
        rate_limited=emu.rate_limited_count - before_429,
        records=records,
        stderr_tail="\n".join(stderr.strip().splitlines()[-3:]),
    )


class PeakWatcher:
    """The child's peak RSS, read from `VmHWM` in /proc while it runs.

    Not `ru_maxrss`: the kernel carries the forking parent's high-water mark
    into the child across exec, and the parent here holds the whole emulator.
    The last reading is at most `interval` before the child's end.
    """

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self._path = Path(f"/proc/{pid}/status")
        self._interval = interval
        self._done = threading.Event()
        self.peak_kb = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                for line in self._path.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            self._done.wait(self._interval)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def parse_reported_records(stderr: str) -> int:
    """Records a contender reports on stderr, when its output went to /dev/null.

    Contenders that do not write Singer print `records=N` as their last line; the
    Singer taps log the SDK's final `record_count` METRIC.
    """
    for line in reversed(stderr.splitlines()):
        if line.startswith("records="):
            return int(line.split("=", 1)[1])
        if '"metric":"record_count"' in line:
            return int(json.loads(line.split("METRIC: ", 1)[1])["value"])
    return -1


def write_config(config: dict[str, t.Any], directory: Path) -> Path:
    """A config file the tap CLIs read."""
    path = directory / "config.json"
    path.write_text(json.dumps(config))
    return path


def tap_mega_command(config_path: Path) -> list[str]:
    """The tap as a user runs it."""
    return [PYTHON, "-m", "tap_mega", "--config", str(config_path)]


def plain_sdk_command(config_path: Path) -> list[str]:
    """A plain SDK RESTStream with every default (see plain_sdk_tap.py)."""
    return [PYTHON, str(HERE / "plain_sdk_tap.py"), "--config", str(config_path)]


def dlt_command(config_path: Path) -> list[str]:
    """dlt's rest_api source with its cursor paginator (see dlt_rest_api.py)."""
    return [PYTHON, str(HERE / "dlt_rest_api.py"), str(config_path)]


def baseline_command(config_path: Path) -> list[str]:
    """Only HTTP requests, json parsing, JSON lines out (see baseline_client.py)."""
    return [PYTHON, str(HERE / "baseline_client.py"), str(config_path)]


def append_results(section: str) -> None:
    """Add a dated section to RESULTS.md, newest last."""
    path = HERE / "RESULTS.md"
    if not path.exists():
        path.write_text(
            "# Benchmark results\n\nWritten by the scripts in this folder; each section "
            "names the machine and the date it was run on.\n"
        )
    with path.open("a") as handle:
        handle.write("\n" + section.rstrip() + "\n")
