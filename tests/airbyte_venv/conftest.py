"""Runs only in .venv-airbyte (PyAirbyte, airbyte-cdk); see tests/test_airbyte_venv.py.

PyAirbyte reads its settings from the environment when imported, so they are set
here first: offline (no registry download), no telemetry, caches in a scratch dir.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
_SCRATCH = Path(tempfile.mkdtemp(prefix="tap-mega-pyairbyte-"))
os.environ.setdefault("AIRBYTE_CACHE_ROOT", str(_SCRATCH / "cache"))
os.environ.setdefault("AIRBYTE_LOGGING_ROOT", str(_SCRATCH / "logs"))
