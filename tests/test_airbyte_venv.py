"""The Airbyte-client tests (PyAirbyte, airbyte-cdk), run in their own venv.

PyAirbyte is about 800 MB and needs Python below 3.13, so Singer users and the
main .venv never carry it: `python3 dev.py test` builds .venv-airbyte and this
test runs tests/airbyte_venv there, failing with that suite's own report.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AIRBYTE_VENV = ROOT / ".venv-airbyte"
READY = AIRBYTE_VENV / ".tap-mega-installed"
PYTHON = AIRBYTE_VENV / ("Scripts" if os.name == "nt" else "bin") / "python"


def test_airbyte_clients_suite_passes_in_its_venv() -> None:
    if not READY.exists():
        reason = os.environ.get("TAP_MEGA_AIRBYTE_VENV_PROBLEM") or (
            ".venv-airbyte is missing: `python3 dev.py test` creates it"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Airbyte-client tests cannot run in CI: {reason}")
        pytest.skip(f"Airbyte-client tests not run: {reason}")

    done = subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pytest",
            "tests/airbyte_venv",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-p",
            "airbyte_cdk.test.standard_tests.pytest_hooks",
            # Third-party warnings (PyAirbyte, google-cloud) are reported, not fatal, there.
            "-o",
            "filterwarnings=default",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )

    assert done.returncode == 0, f"{done.stdout[-12000:]}\n{done.stderr[-3000:]}"
