"""`python -m tap_mega.testing.emulator` as a user starts it: its own process, its banner."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import typing as t

from tap_mega.testing.emulator import DEMO_CUSTOMER_ID, DEMO_TOKEN

if t.TYPE_CHECKING:
    from collections.abc import Iterator

CLI = [sys.executable, "-m", "tap_mega.testing.emulator"]


DEMO_AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}", "x-customer-id": DEMO_CUSTOMER_ID}


@contextlib.contextmanager
def emulator_cli(*args: str) -> Iterator[str]:
    """Run `python -m tap_mega.testing.emulator` on a free port; yield the URL it prints."""
    proc = subprocess.Popen(
        [*CLI, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        match = re.search(r" at (http://\S+)$", first.strip())
        assert match, f"no URL printed: {first!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def assert_one_line_cli_error(completed: subprocess.CompletedProcess[str], flag: str) -> None:
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    [line] = [line for line in completed.stderr.splitlines() if "error:" in line]
    assert line.startswith("python -m tap_mega.testing.emulator: error: ")
    assert flag in line
    assert completed.stdout == "", "nothing served"
