"""Singer messages to stdout, byte for byte as the SDK writes them, at a fraction of the cost.

The SDK's writer serialises with simplejson in pure Python and flushes stdout
after every message: a system call per record. This one serialises with the
standard library's C encoder (same separators, same output for the JSON types a
record holds) and flushes only on non-RECORD messages. A STATE is therefore
never written before the records it covers, and records after the last STATE
that a crash leaves unflushed are re-read by the next run from that STATE.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import sys
import typing as t

from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.encoding.base import SingerMessageType
from singer_sdk.singerlib.json import serialize_json
from typing_extensions import override

from tap_mega.errors import TargetStoppedError

if t.TYPE_CHECKING:
    from singer_sdk.io_base import GenericSingerWriter
    from singer_sdk.singerlib.encoding.simple import Message


def _encode_datetime(value: object) -> str:
    """`time_extracted`, as the SDK encodes it; any other odd type goes the SDK's way."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep="T")
    raise TypeError(type(value).__name__)


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_encode_datetime, allow_nan=False)
#: Records held before they are written anyway, should no STATE come for long.
MAX_PENDING_LINES = 1000


class LineWriter(SingerWriter):
    """One JSON line per message; records are written in one go at each STATE.

    Held records are written before any other message, so the order on stdout
    is the order of the calls; the tap flushes what is left when its sync ends.
    """

    @override
    def __init__(self) -> None:
        """Start with nothing held."""
        super().__init__()
        self._pending: list[str] = []
        #: RECORD lines among `_pending`, and RECORD lines written to stdout so far.
        self._pending_records = 0
        self.records_written = 0
        self._frame_key: tuple[str, int | None, dt.datetime | None] | None = None
        self._frame = ("", "")

    @override
    def serialize_message(self, message: Message) -> str:
        """The C encoder; the SDK's encoder for NaN, Decimal and other rarities."""
        data = message.to_dict()
        try:
            return _ENCODER.encode(data)
        except (TypeError, ValueError):
            return serialize_json(data)

    @override
    def write_message(self, message: Message) -> None:
        """Hold a record; write everything held, and flush, on any other message."""
        self._pending.append(self.format_message(message))
        self._pending_records += message.type == SingerMessageType.RECORD
        if (
            message.type != SingerMessageType.RECORD
            or len(self._pending) >= MAX_PENDING_LINES
        ):
            self.flush()

    def write_record(
        self,
        stream: str,
        record: dict[str, t.Any],
        version: int | None,
        time_extracted: dt.datetime | None,
    ) -> None:
        """Hold a RECORD line built from its parts, as `write_message` would write it.

        The hot path: no message object, no `to_dict`, and the text around the
        record is built once per page (its `time_extracted`), not once per record.
        """
        try:
            body = _ENCODER.encode(record)
        except (TypeError, ValueError):
            message = RecordMessage(
                stream=stream, record=record, version=version, time_extracted=time_extracted
            )
            self.write_message(message)
            return
        prefix, suffix = self.record_frame(stream, version, time_extracted)
        self._pending.append(prefix + body + suffix)
        self._pending_records += 1
        if len(self._pending) >= MAX_PENDING_LINES:
            self.flush()

    def record_frame(
        self, stream: str, version: int | None, time_extracted: dt.datetime | None
    ) -> tuple[str, str]:
        """The text before and after the record, in the SDK's key order (`to_dict`)."""
        key = (stream, version, time_extracted)
        if key != self._frame_key:
            suffix = ""
            if version is not None:
                suffix += ',"version":' + _ENCODER.encode(version)
            if time_extracted is not None:
                utc = time_extracted.astimezone(dt.timezone.utc)  # as RecordMessage does
                suffix += ',"time_extracted":' + _ENCODER.encode(utc.isoformat(sep="T"))
            prefix = '{"type":"RECORD","stream":' + _ENCODER.encode(stream) + ',"record":'
            self._frame_key, self._frame = key, (prefix, suffix + "}")
        return self._frame

    def flush(self) -> None:
        """Write the held lines and flush stdout; a closed stdout stops the run."""
        try:
            if self._pending:
                self._pending.append("")
                write_stdout("\n".join(self._pending))
                self._pending.clear()
                self.records_written += self._pending_records
                self._pending_records = 0
            else:
                write_stdout("")
        except StdoutClosedError as exc:
            delivered = self.records_written + records_in(self._pending, exc.written)
            raise TargetStoppedError(delivered) from exc


def write_record(
    writer: GenericSingerWriter[t.Any, t.Any],
    stream: str,
    record: dict[str, t.Any],
    version: int | None,
    time_extracted: dt.datetime,
) -> None:
    """Write a record that needs no SDK walk: our writer without a message object per record.

    Any other writer (source-mega's, say) gets the RecordMessage the SDK would build.
    """
    if isinstance(writer, LineWriter):
        writer.write_record(stream, record, version, time_extracted)
    else:
        writer.write_message(
            RecordMessage(
                stream=stream, record=record, version=version, time_extracted=time_extracted
            )
        )


def write_stdout(text: str) -> None:
    """Write all of `text` to stdout and flush it, however Python buffers stdout.

    Under `python -u` or PYTHONUNBUFFERED=1 (common in containers) the text layer
    writes straight to the file and ignores a short write: when SIGTERM lands
    while the pipe is full, the rest of the text is silently dropped, and stdout
    ends in half a RECORD. Writing the bytes until every one is out loses none.
    """
    stream = sys.stdout
    binary = getattr(stream, "buffer", None)
    if binary is None:  # a text-only stdout, such as a test's StringIO
        stream.write(text)
        stream.flush()
        return
    encoded = text.encode(stream.encoding or "utf-8", stream.errors or "strict")
    data = memoryview(encoded)
    try:
        stream.flush()  # whatever is already in the text layer goes first
        binary.flush()
        fd = file_descriptor(binary)
        while data:
            # Straight to the file when there is one: each write says exactly how
            # much got through, so a reader gone mid-text is told what it got.
            try:
                written = os.write(fd, data) if fd is not None else binary.write(data)
            except BlockingIOError:  # a non-blocking stdout that is full
                written = None
            if written is None:  # wait for room
                select.select([], [fd if fd is not None else binary.fileno()], [])
                continue
            data = data[written:]
        binary.flush()
    except BrokenPipeError as exc:
        raise StdoutClosedError(len(encoded) - len(data)) from exc


def file_descriptor(binary: t.Any) -> int | None:
    """The file descriptor of stdout; None for a stand-in without one (a test's capture)."""
    try:
        return int(binary.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


class StdoutClosedError(Exception):
    """The reader of stdout is gone; `written` bytes of the last text got through."""

    def __init__(self, written: int) -> None:
        """Keep how far the write got."""
        super().__init__(f"stdout closed after {written} bytes")
        self.written = written


def records_in(lines: list[str], written: int) -> int:
    """RECORD lines wholly among the first `written` bytes of `lines` joined by newlines.

    Only on the way out, when stdout has closed: how many records the target got.
    """
    records = 0
    end = 0
    for line in lines:
        end += len(line.encode(sys.stdout.encoding or "utf-8", "replace")) + 1
        if end > written:
            break
        records += line.startswith('{"type":"RECORD"')
    return records
