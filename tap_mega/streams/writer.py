"""Singer messages to stdout as the SDK writes them, with two differences a user sees.

- Under `python -u` (common in containers) the text layer ignores a short write:
  a SIGTERM while the pipe is full would cut a RECORD in half (test_termination.py).
- A target that stops reading is one line naming the records delivered, and exit 1,
  not a BrokenPipeError traceback (test_target_stops.py).
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

    records_written = 0

    @override
    def write_message(self, message: Message) -> None:
        """Write one line; a closed stdout stops the run with the records delivered."""
        try:
            write_stdout(self.format_message(message) + "\n")
        except BrokenPipeError as exc:
            raise TargetStoppedError(self.records_written) from exc
        self.records_written += message.type == SingerMessageType.RECORD


def write_stdout(text: str) -> None:
    """Write all of `text` to stdout, flushed: the bytes go out until every one is written."""
    stream = sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a test's capture: no file, no short write
        stream.write(text)
        stream.flush()
        return
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    stream.flush()  # whatever is already in the text layer goes first
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:  # noqa: PERF203 - a non-blocking stdout is full: wait for room
            select.select([], [fd], [])
