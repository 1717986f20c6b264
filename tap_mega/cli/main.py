"""The `tap-mega` command: the SDK's CLI, with failures told in one line.

The SDK lets exceptions escape as tracebacks, which bury the one fact a user
needs (which setting, which response) under fifty lines a scheduler truncates.
"""

from __future__ import annotations

import os
import sys

import click

from tap_mega.errors import TargetStoppedError, failure_line
from tap_mega.redaction import redact, redacted_traceback
from tap_mega.tap import TapMega
from tap_mega.termination import Terminated

EXIT_FAILURE = 1
#: A command line the tap cannot parse (an unknown option, a bad --format), as click exits.
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> None:
    """Run the tap; a failure becomes one line on stderr and a non-zero exit.

    A command line that cannot be parsed exits 2 (as click would); known
    failures exit 1; SIGTERM/SIGINT exit 128 + the signal number (143, 130)
    after the last STATE, as shells report a killed process; an unexpected
    bug exits 1 with its traceback, the token redacted from it.
    """
    try:
        code = TapMega.cli.main(args=argv, standalone_mode=False)
    except click.UsageError as exc:
        sys.stderr.write(
            f"tap-mega: error: {redact(exc.format_message())} (see tap-mega --help)\n"
        )
        sys.exit(EXIT_USAGE)
    except TargetStoppedError as exc:
        silence_stdout()
        sys.stderr.write(f"tap-mega: error: {exc}\n")
        sys.exit(EXIT_FAILURE)
    except Terminated as exc:
        sys.stderr.write(
            f"tap-mega: error: {exc}: stopped; the last STATE written is where "
            "the next run resumes\n"
        )
        sys.exit(exc.exit_code)
    except Exception as exc:
        line = failure_line(exc)
        if line is None and sys.excepthook is not sys.__excepthook__:
            raise  # the SDK's excepthook logs it, through the redacting log records
        if line is None:
            sys.stderr.write(redacted_traceback(exc))
        else:
            sys.stderr.write(f"tap-mega: error: {redact(line)}\n")
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)


def silence_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and Python flushes it at exit.

    Without this, the bytes still buffered for the closed pipe make the
    interpreter print "Exception ignored ... BrokenPipeError" after our line.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


if __name__ == "__main__":
    main()
