"""Every failure the tap knows and its one line: below every module, so any can name one."""

from __future__ import annotations

import requests
from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError


class MegaError(Exception):
    """A failure the user must act on; its text is the one line they are shown."""


class MegaAuthError(MegaError):
    """401 or 403: retrying cannot help, the settings or the token must change."""


class MegaRequestError(MegaError):
    """A 4xx the API gave for our request: retrying the same request cannot help."""


class MegaResponseError(MegaError):
    """A response that breaks the documented contract; we stop rather than guess."""


class NotMegaError(MegaError):
    """The first answer is not MEGA's: `api_url` is wrong, and retrying only hides it."""


class UnreadableBodyError(RetriableAPIError):
    """A 200 whose body is not JSON: a gateway's hiccup, retried like a 5xx."""


class SavedCursorRefusedError(MegaError):
    """MEGA answered 400 to the cursor a previous run saved (expired, say)."""


class SettingsError(MegaError):
    """Invalid settings, the first problem as the line: the SDK's CLI swallows its own error."""

    def __init__(self, problems: list[str]) -> None:
        """Every problem, of which the user is shown the first."""
        super().__init__(f"invalid settings: {problems[0]}")


class InputError(Exception):
    """A `source-mega` --config, --catalog or --state file that cannot be used."""


class RateLimitedError(Exception):
    """A 429: waited out and retried, never counted as a failed try."""

    def __init__(self, retry_after: float) -> None:
        """`retry_after`: seconds MEGA asked us to wait."""
        super().__init__(f"rate limited, retry after {retry_after:g}s")
        self.retry_after = retry_after


class BudgetExhaustedError(Exception):
    """The next request would wait longer than `max_wait_seconds`: end the run cleanly."""

    def __init__(self, wait: float, reason: str) -> None:
        """The wait and its cause, for the user's WARNING line."""
        super().__init__(f"next request would wait {wait:.0f}s ({reason})")
        self.wait = wait
        self.reason = reason


class ReserveTooLargeError(MegaError):
    """`rate_limit_reserve` leaves nothing of a reported window: the tap could never send."""


class TargetStoppedError(BaseException):
    """stdout was closed: the target (a loader, `head`) stopped reading.

    A BaseException, so no handler tries to write STATE and the SDK logs no "unhandled error".
    """

    def __init__(self, records: int) -> None:
        """`records`: how many reached the target's pipe before it closed."""
        super().__init__(
            f"the target stopped reading after {records:,} records (stdout was closed); "
            "nothing after them was delivered, and the next run resumes from the last "
            "STATE the target saved (its own log says why it stopped)"
        )


#: Failures the user fixes in the settings, not by retrying (Airbyte's `config_error`).
CONFIG_FAILURES = (MegaAuthError, SettingsError, ConfigValidationError, InputError, NotMegaError)


def failure_line(exc: BaseException) -> str | None:  # noqa: PLR0911 - one return per failure
    """The one line that explains a known failure, or None for a real bug."""
    if isinstance(exc, ConfigValidationError):
        return f"invalid settings: {exc.errors[0] if exc.errors else exc}"
    if isinstance(exc, (MegaError, InputError, UnreadableBodyError)):
        return str(exc)
    # A file the user gave: the SDK parses with simplejson; bodies are MegaResponseError.
    if isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError":
        return f"a --config, --state or --catalog file is not valid JSON: {exc}"
    if isinstance(exc, BudgetExhaustedError):
        return f"MEGA's rate limit: the {exc}, longer than `max_wait_seconds`"
    if isinstance(exc, RetriableAPIError):
        return f"MEGA kept failing, giving up after retries: {exc}"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"could not reach MEGA, giving up after retries: {type(exc).__name__}"
    return None
