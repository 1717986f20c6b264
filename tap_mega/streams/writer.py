"""Singer messages to stdout as the SDK writes them, with two differences a user sees.

The SDK writes each message with `sys.stdout.write` and a flush. Two things go
wrong there, each shown by a test:
- Under `python -u` or PYTHONUNBUFFERED=1 (common in containers) the text layer
  ignores a short write: a SIGTERM landing while the pipe is full drops the rest
  of the line, and stdout ends in half a RECORD (tests/test_termination.py).
- A target that stops reading is a BrokenPipeError traceback and the SDK's
  "unhandled error"; here it is one line naming how many records got through,
  and exit 1 (tests/test_target_stops.py, cli/main.py).
"""

from __future__ import annotations

import os
import select
import sys
import typing as t

from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType
from typing_extensions import override

from tap_mega.errors import TargetStoppedError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message


class LineWriter(SingerWriter):
    """The SDK's lines, each written whole (see `write_stdout`), counting the records."""

    @override
    def __init__(self) -> None:
        """No record written yet."""
        super().__init__()
        self.records_written = 0

    @override
    def write_message(self, message: Message) -> None:
        """Write one line; a closed stdout stops the run with the records delivered."""
        try:
            write_stdout(self.format_message(message) + "\n")
        except StdoutClosedError as exc:
            raise TargetStoppedError(self.records_written) from exc
        self.records_written += message.type == SingerMessageType.RECORD


def write_stdout(text: str) -> None:
    """Write all of `text` to stdout and flush it, however Python buffers stdout.

    Under `python -u` the text layer writes straight to the file and ignores a
    short write; writing the bytes until every one is out loses none.
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
        raise StdoutClosedError from exc


def file_descriptor(binary: t.Any) -> int | None:
    """The file descriptor of stdout; None for a stand-in without one (a test's capture)."""
    try:
        return int(binary.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


class StdoutClosedError(Exception):
    """The reader of stdout is gone."""
