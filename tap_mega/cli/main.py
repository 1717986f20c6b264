"""The `tap-mega` command: the SDK's CLI, with failures told in one line, not a traceback."""

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

    Exits 2 for a bad command line (as click would), 128 + the signal number after
    SIGTERM/SIGINT (as shells report it), 1 otherwise; a bug's traceback is redacted.
    """
    try:
        code = TapMega.cli.main(args=argv, standalone_mode=False)
    except click.UsageError as exc:
        sys.stderr.write(f"tap-mega: error: {redact(exc.format_message())} (see tap-mega --help)\n")
        sys.exit(EXIT_USAGE)
    except TargetStoppedError as exc:
        # Point stdout at /dev/null: else flushing it at exit prints a BrokenPipeError.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.stderr.write(f"tap-mega: error: {exc}\n")
        sys.exit(EXIT_FAILURE)
    except Terminated as exc:
        sys.stderr.write(
            f"tap-mega: error: {exc}: stopped; the last STATE written is where "
            "the next run resumes\n"
        )
        sys.exit(exc.exit_code)
    except Exception as exc:
        if (line := failure_line(exc)) is not None:
            sys.stderr.write(f"tap-mega: error: {redact(line)}\n")
        elif sys.excepthook is not sys.__excepthook__:
            raise  # the SDK's excepthook logs it, through the redacting log records
        else:
            sys.stderr.write(redacted_traceback(exc))
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
