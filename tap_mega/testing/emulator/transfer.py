"""How a body travels: as is, gzip-compressed, chunked, or cut short.

Front ends compress and chunk what the application sends, and a network can
cut a body anywhere. This module turns a response body into the bytes on the
wire; the server writes them.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

__all__ = ["Encoded", "Transfer", "encode", "truncated"]

#: Chunk size when chunking: small enough that any page spans several chunks.
_CHUNK = 4096


@dataclass(frozen=True)
class Transfer:
    """Front-end behaviour applied to every response.

    ``gzip``: compress when the request's ``Accept-Encoding`` names gzip, as a
    front end would. ``chunked``: ``Transfer-Encoding: chunked`` instead of a
    ``Content-Length``. Both off by default.
    """

    gzip: bool = False
    chunked: bool = False


@dataclass(frozen=True)
class Encoded:
    """Headers to add and the body's bytes as they go on the wire."""

    headers: dict[str, str]
    wire: bytes


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` lists gzip (or ``*``) with a quality above zero."""
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = params.strip()
        if not quality.startswith("q="):
            return True
        try:
            return float(quality[2:]) > 0
        except ValueError:
            return False
    return False


def encode(body: bytes, transfer: Transfer, accept_encoding: str | None) -> Encoded:
    """Compress and frame ``body`` as the transfer options say."""
    headers: dict[str, str] = {}
    if transfer.gzip and body and _accepts_gzip(accept_encoding):
        body = gzip.compress(body, mtime=0)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    if not transfer.chunked:
        headers["Content-Length"] = str(len(body))
        return Encoded(headers, body)
    headers["Transfer-Encoding"] = "chunked"
    pieces = [body[i : i + _CHUNK] for i in range(0, len(body), _CHUNK)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    return Encoded(headers, framed + b"0\r\n\r\n")


def truncated(wire: bytes, fraction: float) -> bytes:
    """The first ``fraction`` of the wire bytes, at least one byte short of all."""
    return wire[: min(len(wire) - 1, int(len(wire) * fraction))]
