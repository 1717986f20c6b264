"""Airbyte protocol messages out: one JSON line each, secrets redacted from free text.

Messages are plain JSON built with the stdlib: the protocol is a handful of
dict shapes, and the pydantic-based model packages would cost every Singer user
a heavy dependency for no behaviour. Singer messages the SDK writes are
translated here on the way out (RECORD to RECORD, STATE to per-stream STATE,
logging to LOG); SCHEMA has no equivalent, ACTIVATE_VERSION becomes one LOG line.
"""

from __future__ import annotations

import json
import logging
import time
import typing as t

from singer_sdk.metrics import METRICS_LOGGER_NAME
from singer_sdk.singerlib import ActivateVersionMessage, RecordMessage, StateMessage
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from typing_extensions import override

from tap_mega.redaction import redact
from tap_mega.streams.writer import write_stdout

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message

Json = dict[str, t.Any]
LOG_LEVELS = {
    logging.CRITICAL: "FATAL",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
}


class Output:
    """One Airbyte message per stdout line, with every secret redacted from free text.

    Records and state carry MEGA's data, never a setting; log and error text can
    quote anything (an exception, a URL), so only those pass through `redact`,
    which knows every secret the tap registered (see redaction.py).
    """

    def emit(self, message: Json) -> None:
        """Write one message as one JSON line, and flush: Airbyte reads as we go."""
        if message["type"] in {"LOG", "TRACE", "CONNECTION_STATUS"}:
            message = redacted(message)
        write_stdout(json.dumps(message, default=str, separators=(",", ":")) + "\n")

    def log(self, level: str, text: str) -> None:
        """A LOG message."""
        self.emit({"type": "LOG", "log": {"level": level, "message": text}})

    def error(self, text: str, failure_type: str, stack_trace: str | None = None) -> None:
        """A TRACE error: how Airbyte learns why a sync failed and whose fault it was."""
        error: Json = {"message": text, "failure_type": failure_type}
        if stack_trace:
            error["internal_message"] = text
            error["stack_trace"] = stack_trace
        self.emit(
            {
                "type": "TRACE",
                "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error},
            }
        )


def redacted(value: t.Any) -> t.Any:
    """`value` with every secret redacted from its strings, before JSON escapes them.

    Redacting the encoded text would miss a secret that JSON escapes (a pasted
    token with a `"` in it).
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def now_ms() -> int:
    """Airbyte's timestamps: epoch milliseconds."""
    return int(time.time() * 1000)


class AirbyteWriter(GenericSingerWriter[str, "Message"]):
    """The Tap's message writer: Singer messages in, Airbyte messages out."""

    def __init__(self, output: Output) -> None:
        """Write through `output`."""
        self.output = output

    @override
    def serialize_message(self, message: Message) -> str:
        """The Airbyte lines for `message` (the SDK calls this only for debugging)."""
        return "\n".join(json.dumps(line) for line in translate(message))

    @override
    def write_message(self, message: Message) -> None:
        """Emit what Airbyte has a use for; SCHEMA and the rest are dropped."""
        for line in translate(message):
            self.output.emit(line)


def translate(message: Message) -> list[Json]:
    """Airbyte's equivalent of one Singer message; [] when it has none.

    SCHEMA has none: Airbyte fixes a sync's schema from its configured catalog,
    so a SCHEMA re-sent mid-stream (a new custom field, a `__v_` variant) is
    dropped; its values still travel inside the record's `custom_fields` object.
    ACTIVATE_VERSION has none either: it becomes one LOG line saying what that costs.
    """
    if isinstance(message, RecordMessage):
        return [
            {
                "type": "RECORD",
                "record": {
                    "stream": message.stream,
                    "data": message.record,
                    "emitted_at": now_ms(),
                },
            }
        ]
    if isinstance(message, StateMessage):
        bookmarks = message.value.get("bookmarks", {})
        return [stream_state_message(name, bookmark) for name, bookmark in bookmarks.items()]
    if isinstance(message, ActivateVersionMessage):
        return [activate_version_log(message.stream, message.version)]
    return []


def activate_version_log(stream: str, version: int) -> Json:
    """The LOG line that stands for an ACTIVATE_VERSION: Airbyte retires no row on it."""
    text = (
        f"source-mega: dropped ACTIVATE_VERSION {version} of `{stream}`: the Airbyte "
        "protocol has no such message, so the destination keeps the rows of leads "
        f"deleted in MEGA; a full refresh (overwrite) or a refresh sync of `{stream}` "
        'drops them (README, "Airbyte").'
    )
    return {"type": "LOG", "log": {"level": "INFO", "message": text}}


def stream_state_message(name: str, stream_state: Json) -> Json:
    """A per-stream STATE carrying the tap's bookmark for `name` unchanged."""
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state},
        },
    }


class AirbyteLogHandler(logging.Handler):
    """Everything the tap logs (progress, warnings) as LOG messages on stdout.

    Airbyte shows LOG messages in the sync's log; stderr is not part of the protocol.
    """

    @override
    def __init__(self, output: Output) -> None:
        """Write through `output`."""
        super().__init__()
        self.output = output

    @override
    def emit(self, record: logging.LogRecord) -> None:
        """One LOG per log record."""
        try:
            level = LOG_LEVELS.get(record.levelno, "INFO")
            self.output.log(level, f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never break a sync
            self.handleError(record)


def route_logging(output: Output, level: int = logging.INFO) -> None:
    """Send the root logger, and so the SDK's and the tap's loggers, to LOG messages.

    The SDK's METRIC lines (request timings, record counts) are for Singer tooling;
    Airbyte counts records itself, so they are shown only at DEBUG. A filter, not
    the metrics logger's level: the SDK resets that whenever a tap is built.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = AirbyteLogHandler(output)
    if level > logging.DEBUG:
        handler.addFilter(lambda record: record.name != METRICS_LOGGER_NAME)
    root.addHandler(handler)
    root.setLevel(level)
