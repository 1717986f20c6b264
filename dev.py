#!/usr/bin/env python3
"""The project's two commands, runnable on a fresh machine with only Python 3.10+.

    python3 dev.py sync   # the main job: a sync into the embedded default warehouse
    python3 dev.py test   # the whole test suite (what CI runs)

Each creates what it needs (the .venv, the package and its test tools) on first
use, and skips that work on the next run unless pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".tap-mega-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
# PyAirbyte and airbyte-cdk (about 800 MB, Python below 3.13) get their own venv,
# so the tap's own .venv stays what a Singer user installs.
AIRBYTE_VENV = ROOT / ".venv-airbyte"
AIRBYTE_STAMP = AIRBYTE_VENV / ".tap-mega-installed"
AIRBYTE_PYTHON = AIRBYTE_VENV / ("Scripts" if os.name == "nt" else "bin") / "python"
AIRBYTE_INTERPRETERS = ("python3.12", "python3.11", "python3.10")


def run(*command: str | Path, env: dict[str, str] | None = None) -> int:
    """Run a command from the project root, streaming its output."""
    return subprocess.call([str(part) for part in command], cwd=ROOT, env=env)


def requirements_fingerprint() -> str:
    """What the venv was built from; a change means reinstall."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the package with its test extra, once."""
    if sys.version_info < (3, 10):
        sys.exit("tap-mega needs Python 3.10 or newer")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    fingerprint = requirements_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("Installing tap-mega and its test tools into .venv ...", flush=True)
    quiet = ["--quiet", "--disable-pip-version-check"]
    if run(PYTHON, "-m", "pip", "install", *quiet, "--upgrade", "pip") != 0:
        sys.exit("could not upgrade pip in .venv")
    if run(PYTHON, "-m", "pip", "install", *quiet, "-e", ".[test]") != 0:
        sys.exit("could not install tap-mega into .venv")
    STAMP.write_text(fingerprint)


def airbyte_interpreter() -> str | None:
    """A Python PyAirbyte supports (3.10 to 3.12): this one, or one on PATH."""
    if sys.version_info < (3, 13):
        return sys.executable
    return next(filter(None, map(shutil.which, AIRBYTE_INTERPRETERS)), None)


def ensure_airbyte_venv() -> str | None:
    """Create .venv-airbyte once; None when ready, else why it could not be made.

    A failure does not stop the suite: the test that needs this venv skips with
    the reason locally, and fails under CI=true.
    """
    fingerprint = requirements_fingerprint()
    if AIRBYTE_STAMP.exists() and AIRBYTE_STAMP.read_text() == fingerprint:
        return None
    interpreter = airbyte_interpreter()
    if interpreter is None:
        return "PyAirbyte needs Python 3.10 to 3.12 and none was found on PATH"
    quiet = ["--quiet", "--disable-pip-version-check"]
    if not AIRBYTE_PYTHON.exists():
        print("Creating .venv-airbyte (PyAirbyte, airbyte-cdk; about 800 MB) ...", flush=True)
        if run(interpreter, "-m", "venv", AIRBYTE_VENV) != 0:
            return f"could not create .venv-airbyte with {interpreter}"
    print("Installing tap-mega and the Airbyte clients into .venv-airbyte ...", flush=True)
    if run(AIRBYTE_PYTHON, "-m", "pip", "install", *quiet, "-e", ".[airbyte-test]") != 0:
        return "could not install the `airbyte-test` extra into .venv-airbyte"
    AIRBYTE_STAMP.write_text(fingerprint)
    return None


def test(args: list[str]) -> int:
    """The whole suite; pytest's 'no tests ran' (exit 5) counts as a failure."""
    ensure_venv()
    env = dict(os.environ)
    problem = ensure_airbyte_venv()
    if problem is not None:
        print(f"dev.py: {problem}", file=sys.stderr)
        env["TAP_MEGA_AIRBYTE_VENV_PROBLEM"] = problem
    code = run(PYTHON, "-m", "pytest", *args, env=env)
    if code == 5:
        print("dev.py: pytest collected no tests: that is a failure", file=sys.stderr)
        return 1
    return code


def main() -> int:
    """Dispatch `sync` or `test`."""
    commands = {"test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
