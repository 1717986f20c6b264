"""Keep the token out of every log line, error line and traceback.

The token only travels in the Authorization header, and no code of ours logs
it; this is the net under that rule, for what we do not control: an exception
from a library that quotes a header, a value pasted into the wrong setting, the
SDK's excepthook logging an unexpected bug with its traceback.

It works at log-record creation (`logging.setLogRecordFactory`) rather than as a
handler filter because the SDK and users configure handlers after we start and
a record factory sees every record of every logger, whatever the handlers.
"""

from __future__ import annotations

import logging
import threading
import traceback
import typing as t

REDACTED = "<redacted>"
#: Shorter values would redact ordinary words; a real token is ~70 characters.
MIN_SECRET_LENGTH = 8

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False
# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def register_secret(value: t.Any) -> None:
    """Redact `value` from now on, in every log record and error line."""
    if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.add(value)
        _secrets.add(value.strip())
        _install_record_factory()


def redact(text: str, *also: str) -> str:
    """`text` with every registered secret, and each of `also`, replaced by a marker.

    `also`: secrets of another process, such as the fleet's accounts' tokens.
    """
    for secret in sorted({*_secrets, *filter(None, also)}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def contains_secret(text: str) -> bool:
    """Whether any registered secret occurs in `text`."""
    return any(secret in text for secret in _secrets)


def redacted_traceback(exc: BaseException) -> str:
    """A traceback as Python would print it, with secrets redacted."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def _install_record_factory() -> None:
    """Wrap the current record factory once per process."""
    global _installed  # noqa: PLW0603 - one factory per process, like logging's own
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: t.Any, **kwargs: t.Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def redact_record(record: logging.LogRecord) -> None:
    """Rewrite a record in place so that no formatter can show a secret.

    A traceback that quotes a secret is pre-rendered, redacted, into `exc_text`
    and `exc_info` dropped: the SDK's structured formatter would otherwise
    render the exception itself from `exc_info`.
    """
    message = record.getMessage()
    if contains_secret(message):
        record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        if contains_secret(text):
            record.exc_text = redact(text.rstrip("\n"))
            record.exc_info = None
    if record.stack_info and contains_secret(record.stack_info):
        record.stack_info = redact(record.stack_info)
    for name, value in list(vars(record).items()):
        if name not in _STANDARD_ATTRIBUTES and contains_secret(str(value)):
            setattr(record, name, redact(str(value)))
