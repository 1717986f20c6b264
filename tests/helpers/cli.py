"""Running `tap-mega` as a user does, and judging its failure lines.

`run_cli` starts the real entry point in its own process; `run_main` and
`main_in_process` call the same `main(argv)` in this one, for tests about the
words and the exit code, without a second or two of interpreter start per run.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import typing as t
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from unittest import mock

from tap_mega.cli.main import main
from tests.helpers.sync import SyncResult, parse_messages

if t.TYPE_CHECKING:
    from pathlib import Path


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> SyncResult:
        return SyncResult(parse_messages(self.stdout))


# The real entry point, run by `python -c` after a test's prelude (code that
# patches a class attribute, say, as the user's process would never do).
CLI_MAIN = "from tap_mega.cli.main import main; main()"
# The default prelude: the retry wait shrunk as the `fast_retries` fixture does
# in-process; the retry logic is unchanged, only the clock is faster.
FAST_RETRIES = "from tap_mega.api.client import MegaStream; MegaStream.retry_wait_base = 0.01; "
ERROR_PREFIX = "tap-mega: error:"


def error_lines(stderr: str) -> list[str]:
    """The tap's own failure lines: what a user reads when a run fails."""
    return [line for line in stderr.splitlines() if line.startswith(ERROR_PREFIX)]


def assert_one_line_failure(returncode: int, stderr: str, *fragments: str) -> str:
    """Exit 1 with exactly one error line holding every fragment, and no traceback."""
    assert returncode == 1, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in stderr
    return lines[0]


def cli_command(
    config: dict[str, t.Any],
    tmp_path: Path,
    args: tuple[str, ...],
    state: dict[str, t.Any] | None,
    prelude: str = FAST_RETRIES,
) -> list[str]:
    """The command line for the real entry point, with config and state in files."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-c", prelude + CLI_MAIN, "--config", str(config_path), *args]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    return command


def run_cli(
    config: dict[str, t.Any],
    tmp_path: Path,
    *args: str,
    state: dict[str, t.Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    prelude: str = FAST_RETRIES,
) -> CliResult:
    """Run `tap-mega` as a user would, in its own process, with millisecond retry waits.

    `prelude` replaces the default (fast retries) with a test's own set-up code.
    """
    command = cli_command(config, tmp_path, args, state, prelude)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def spawn_cli(
    config: dict[str, t.Any],
    tmp_path: Path,
    *args: str,
    state: dict[str, t.Any] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start `tap-mega` as run_cli does, without waiting: for signals and kills."""
    command = cli_command(config, tmp_path, args, state)
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def run_main(
    config: dict[str, t.Any],
    tmp_path: Path,
    *args: str,
    state: dict[str, t.Any] | None = None,
) -> CliResult:
    """`run_cli` in this process: the same `main(argv)`, files, stdout, stderr and exit code.

    The retry waits are the `fast_retries` fixture's.
    """
    argv = cli_command(config, tmp_path, args, state)[3:]  # without `python -c PROGRAM`
    return main_in_process(argv)


def main_in_process(argv: list[str], environ: dict[str, str] | None = None) -> CliResult:
    """`tap-mega ARGV` in this process, with `environ` as the whole environment if given.

    What the SDK's command changes for the whole process (the root logger's
    handlers, which it adds at each start, and `sys.excepthook`) is put back
    afterwards, so one run cannot write into the next one's output.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level, excepthook = list(root.handlers), root.level, sys.excepthook
    code: int | str | None = 0
    try:
        with (
            mock.patch.dict(
                os.environ, environ if environ is not None else {}, clear=environ is not None
            ),
            redirect_stdout(stdout),
            redirect_stderr(stderr),
        ):
            main(argv)
    except SystemExit as exit_:
        code = exit_.code
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        sys.excepthook = excepthook
        logging.captureWarnings(capture=False)
    returncode = code if isinstance(code, int) else int(code is not None)
    return CliResult(returncode, stdout.getvalue(), stderr.getvalue())
