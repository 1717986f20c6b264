"""SIGKILL a sync at random points and resume it from the last STATE its target kept."""

from __future__ import annotations

import json
import random
import signal
import threading
import typing as t

from tests.helpers.cli import spawn_cli
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator


class LineTarget(t.Protocol):
    """A target fed one line at a time: MergeTarget here, mirror.py's SqlTarget."""

    state: dict[str, t.Any] | None
    runs: list[list[str]]

    def take(self, line: str) -> bool: ...


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
    target: LineTarget,
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


def crash_and_resume(emulator: MegaEmulator, tmp_path: Path, seed: int) -> tuple[MergeTarget, int]:
    """Kill 1-4 times at random, then let the last run finish; returns the target."""
    rng = random.Random(seed)  # noqa: S311 - reproducible kill points
    config = tap_config(emulator, page_size=100)
    target = MergeTarget()
    kills = 0
    for _ in range(rng.randint(1, 4)):
        by_time = rng.random() < 0.3  # some kills land before any output
        code = run_until_killed(
            config,
            tmp_path,
            target,
            kill_after_lines=None if by_time else rng.randint(1, 8000),
            kill_after_seconds=rng.uniform(0.05, 1.5) if by_time else None,
        )
        if code is None:
            kills += 1
        else:
            return target, kills
    code = run_until_killed(
        config, tmp_path, target, kill_after_lines=None, kill_after_seconds=None
    )
    assert code == 0
    return target, kills
