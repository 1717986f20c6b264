"""`source-mega` as PyAirbyte and the CDK's tests run it: the installed console script.

Used by tests/airbyte_venv, in .venv-airbyte (see tests/test_airbyte_venv.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

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
