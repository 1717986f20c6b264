"""A target that stops reading ends the tap with one line and a non-zero exit (issue 10).

A crashed loader, or `tap-mega | head`, closes the tap's stdout; the tap used to
end on the SDK's "unhandled error" and a BrokenPipeError traceback.
"""

from __future__ import annotations

import json
import re
import typing as t

from tests.helpers.cli import error_lines, spawn_cli
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

STOPPED = re.compile(
    r"^tap-mega: error: the target stopped reading after ([\d,]+) records \(stdout was closed\); "
)


def test_a_closed_stdout_is_one_line_with_the_records_delivered(
    make_emulator: Callable[..., MegaEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(n_leads=2000, seed=11, latency_ms=(50, 50))
    process = spawn_cli(tap_config(emulator, page_size=100), tmp_path)
    assert process.stdout is not None
    read = 0
    while read < 150:  # a page and a half, then the "target" goes away
        message = json.loads(process.stdout.readline())
        read += message["type"] == "RECORD"
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 1, stderr
    [line] = error_lines(stderr)
    assert stderr.rstrip("\n").splitlines()[-1] == line
    match = STOPPED.match(line)
    assert match is not None, line
    assert read <= int(match.group(1).replace(",", "")) < len(emulator.leads)
    assert "Traceback" not in stderr
    assert "unhandled error" not in stderr
    assert "Exception ignored" not in stderr
    assert emulator.token not in stderr
