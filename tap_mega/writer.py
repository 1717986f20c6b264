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
import sys
import typing as t

from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType
from singer_sdk.singerlib.json import serialize_json

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message


def _encode_datetime(value: object) -> str:
    """`time_extracted`, as the SDK encodes it; any other odd type goes the SDK's way."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep="T")
    raise TypeError(type(value).__name__)


class LineWriter(SingerWriter):
    """One JSON line per message, flushed at each STATE (and SCHEMA and the like)."""

    def serialize_message(self, message: Message) -> str:
        """The C encoder; the SDK's encoder for NaN, Decimal and other rarities."""
        data = message.to_dict()
        try:
            return json.dumps(
                data, separators=(",", ":"), default=_encode_datetime, allow_nan=False
            )
        except (TypeError, ValueError):
            return serialize_json(data)

    def write_message(self, message: Message) -> None:
        """Write the line; flush unless it is a record."""
        sys.stdout.write(self.format_message(message) + "\n")
        if message.type != SingerMessageType.RECORD:
            sys.stdout.flush()
