"""`source-mega` as Airbyte runs it: its own process, JSON lines on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from pathlib import Path

FAST_RETRY_SOURCE = (
    "from tap_mega.api.client import MegaStream; MegaStream.retry_wait_base = 0.01; "
    "from tap_mega.airbyte import main; main()"
)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[dict[str, t.Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]

    def of_type(self, kind: str) -> list[dict[str, t.Any]]:
        return [message for message in self.messages if message["type"] == kind]

    @property
    def records(self) -> list[dict[str, t.Any]]:
        return [message["record"] for message in self.of_type("RECORD")]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [message["state"] for message in self.of_type("STATE")]

    @property
    def errors(self) -> list[dict[str, t.Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]


def source(
    tmp_path: Path,
    command: str,
    config: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    state: t.Any = None,
    *flags: str,
    env: dict[str, str] | None = None,
) -> Run:
    """Run `source-mega <command>` as Airbyte does, with files for every input."""
    args = [command, *flags]
    for name, value in (("config", config), ("catalog", catalog), ("state", state)):
        if value is not None:
            path = tmp_path / f"{name}.json"
            path.write_text(json.dumps(value))
            args += [f"--{name}", str(path)]
    return source_process(args, env=env)


def source_process(
    args: list[str], program: str = FAST_RETRY_SOURCE, env: dict[str, str] | None = None
) -> Run:
    """`source-mega` with these arguments, in its own process as Airbyte runs it."""
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    return Run(done.returncode, done.stdout, done.stderr)


def configured_catalog(sync_mode: str = "incremental") -> dict[str, t.Any]:
    return {
        "streams": [
            {
                "stream": {"name": "leads", "json_schema": {}, "supported_sync_modes": [sync_mode]},
                "sync_mode": sync_mode,
                "destination_sync_mode": "append_dedup"
                if sync_mode == "incremental"
                else "overwrite",
                "cursor_field": ["updated_at"],
                "primary_key": [["id"]],
            }
        ]
    }


def per_stream_state(run: Run) -> list[dict[str, t.Any]]:
    """What Airbyte would pass back: the last state of each stream."""
    return [run.states[-1]]
