"""`tap-mega-doctor` as a user runs it: its own process, its report in text or JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from dataclasses import dataclass

from tap_mega.testing.emulator import RateWindow

if t.TYPE_CHECKING:
    from pathlib import Path

DOCTOR_MAIN = "from tap_mega.doctor import main; main()"


DOCUMENTED = [RateWindow(60, 60), RateWindow(1000, 3600)]


@dataclass
class DoctorRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", json.loads(self.stdout))

    def line(self, section: str, check: str) -> dict[str, t.Any]:
        """One line of a `--json` report."""
        lines = self.report["sections"][section]
        return next(line for line in lines if line["check"] == check)

    def statuses(self) -> dict[str, str]:
        return {
            f"{section}.{line['check']}": line["status"]
            for section, lines in self.report["sections"].items()
            for line in lines
        }


def run_doctor(
    config: dict[str, t.Any] | None,
    tmp_path: Path,
    *args: str,
    state: dict[str, t.Any] | None = None,
    env: dict[str, str] | None = None,
) -> DoctorRun:
    """`tap-mega-doctor --config FILE [--state FILE] ARGS`, in its own process."""
    command = [sys.executable, "-c", DOCTOR_MAIN]
    if config is not None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        command += ["--config", str(path)]
    if state is not None:
        path = tmp_path / "state.json"
        path.write_text(json.dumps(state))
        command += ["--state", str(path)]
    completed = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    return DoctorRun(completed.returncode, completed.stdout, completed.stderr)


def leads_state(bookmark: str) -> dict[str, t.Any]:
    return {
        "bookmarks": {"leads": {"replication_key": "updated_at", "replication_key_value": bookmark}}
    }
