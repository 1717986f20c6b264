"""Keep the token out of every log line, error line and traceback.

The net under "no code of ours logs it", for a library quoting a header or the SDK's
excepthook. A log-record factory, not a handler filter: it sees every record of every
logger, whatever handlers the SDK or a user sets up after we start.
"""

from __future__ import annotations

import logging
import traceback
import typing as t

REDACTED = "<redacted>"
#: Shorter values would redact ordinary words; a real token is ~70 characters.
MIN_SECRET_LENGTH = 8

_secrets: set[str] = set()
# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def register_secret(value: t.Any) -> None:
    """Redact `value` from now on, in every log record and error line."""
    if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
        return
    if not _secrets:  # the first: wrap the record factory, once per process
        previous = logging.getLogRecordFactory()

        def factory(*args: t.Any, **kwargs: t.Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
    _secrets.update({value, value.strip()})


def redact(text: str, *also: str) -> str:
    """`text` without any registered secret; `also`: another process's (the fleet's tokens)."""
    for secret in sorted({*_secrets, *filter(None, also)}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def contains_secret(text: str) -> bool:
    """Whether any registered secret occurs in `text`."""
    return any(secret in text for secret in _secrets)


def redacted_traceback(exc: BaseException) -> str:
    """A traceback as Python prints it, redacted."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def redact_record(record: logging.LogRecord) -> None:
    """Rewrite a record in place so that no formatter can show a secret.

    `exc_info` goes: the SDK's structured formatter would render it past `exc_text`.
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
