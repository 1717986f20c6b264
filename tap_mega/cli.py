"""The `tap-mega` command: the SDK's CLI, with failures told in one line.

The SDK lets exceptions escape as tracebacks, which bury the one fact a user
needs (which setting, which response) under fifty lines a scheduler truncates.
"""

from __future__ import annotations

import sys

import requests
from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError

from tap_mega.client import MegaError
from tap_mega.pacer import BudgetExhaustedError
from tap_mega.redaction import redact, redacted_traceback
from tap_mega.tap import TapMega
from tap_mega.termination import Terminated

EXIT_FAILURE = 1


def failure_line(exc: BaseException) -> str | None:
    """The one line that explains a known failure, or None for a real bug."""
    return input_failure_line(exc) or network_failure_line(exc)


def input_failure_line(exc: BaseException) -> str | None:
    """Settings, files or responses we cannot use: the user or MEGA must change something."""
    if isinstance(exc, ConfigValidationError):
        return f"invalid settings: {exc.errors[0] if exc.errors else exc}"
    if isinstance(exc, MegaError):
        return str(exc)
    if is_json_decode_error(exc):
        return f"a --config, --state or --catalog file is not valid JSON: {exc}"
    return None


def network_failure_line(exc: BaseException) -> str | None:
    """MEGA stayed unreachable or failing through every retry."""
    if isinstance(exc, BudgetExhaustedError):
        return f"MEGA's rate limit: the {exc}, longer than `max_wait_seconds`"
    if isinstance(exc, RetriableAPIError):
        return f"MEGA kept failing, giving up after retries: {exc}"
    if isinstance(exc, requests.exceptions.Timeout):
        return "MEGA did not answer within `request_timeout`, giving up after retries"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"could not reach MEGA, giving up after retries: {type(exc).__name__}"
    return None


def is_json_decode_error(exc: BaseException) -> bool:
    """A JSON file the user gave us is broken (the SDK parses with simplejson, not json).

    Response bodies never get here: the client turns those into MegaResponseError.
    """
    return isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError"


def main(argv: list[str] | None = None) -> None:
    """Run the tap; a failure becomes one line on stderr and a non-zero exit.

    Known failures exit 1; SIGTERM/SIGINT exit 128 + the signal number (143,
    130) after the last STATE, as shells report a killed process; an unexpected
    bug exits 1 with its traceback, the token redacted from it.
    """
    try:
        code = TapMega.cli.main(args=argv, standalone_mode=False)
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


if __name__ == "__main__":
    main()
