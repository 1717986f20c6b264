"""Runs only in .venv-airbyte (PyAirbyte, airbyte-cdk); see tests/test_airbyte_venv.py.

PyAirbyte reads its settings from the environment when imported, so they are set
here first: offline (no registry download), no telemetry, caches in a scratch dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
_SCRATCH = Path(tempfile.mkdtemp(prefix="tap-mega-pyairbyte-"))
os.environ.setdefault("AIRBYTE_CACHE_ROOT", str(_SCRATCH / "cache"))
os.environ.setdefault("AIRBYTE_LOGGING_ROOT", str(_SCRATCH / "logs"))

#: The installed console script, as Airbyte and PyAirbyte run it.
SOURCE_MEGA = Path(sys.executable).parent / "source-mega"


def run_source(tmp_path: Path, *args: str, **files: t.Any) -> list[str]:
    """Run `source-mega` with JSON files for `files` (config=, catalog=, state=); its lines."""
    command = [str(SOURCE_MEGA), *args]
    for name, value in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(value))
        command += [f"--{name}", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout.splitlines()
