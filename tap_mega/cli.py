"""The `tap-mega` command: the SDK's CLI, with failures told in one line.

The SDK lets exceptions escape as tracebacks, which bury the one fact a user
needs (which setting, which response) under fifty lines a scheduler truncates.
"""

from __future__ import annotations

import sys

import requests
from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError

from tap_mega.client import MegaError
from tap_mega.tap import TapMega

EXIT_FAILURE = 1


def failure_line(exc: BaseException) -> str | None:
    """The one line that explains a known failure, or None for a real bug."""
    if isinstance(exc, ConfigValidationError):
        return f"invalid settings: {exc.errors[0] if exc.errors else exc}"
    if isinstance(exc, MegaError):
        return str(exc)
    if isinstance(exc, RetriableAPIError):
        return f"MEGA kept failing, giving up after retries: {exc}"
    if isinstance(exc, requests.exceptions.Timeout):
        return "MEGA did not answer within `request_timeout`, giving up after retries"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"could not reach MEGA, giving up after retries: {type(exc).__name__}"
    return None


def main() -> None:
    """Run the tap; a known failure becomes one line on stderr and exit code 1."""
    try:
        code = TapMega.cli.main(standalone_mode=False)
    except Exception as exc:
        line = failure_line(exc)
        if line is None:
            raise
        sys.stderr.write(f"tap-mega: error: {line}\n")
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
