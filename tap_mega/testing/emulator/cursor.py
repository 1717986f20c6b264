"""The keyset cursor: an opaque position after the last lead of a page."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from tap_mega.testing.emulator.instants import stored_us
from tap_mega.testing.emulator.wire import ApiError
from tap_mega.testing.leadgen import format_ms

__all__ = ["CURSOR_ALPHABETS", "Cursor"]


CURSOR_ALPHABETS = ("urlsafe", "standard")
# Two bytes whose base64 is "+/": every standard-alphabet cursor carries both.
_MARK = b"\xfb\xff"


@dataclass(frozen=True)
class Cursor:
    """Decoded keyset position: the last lead returned on the previous page."""

    sort_by: str
    sort_dir: str
    value_us: int
    lead_id: str

    def encode(self, alphabet: str = "urlsafe") -> str:
        """Opaque to clients: base64 of a small JSON object.

        ``urlsafe`` (default): base64url, unpadded, safe in a query string as is.
        ``standard``: the standard alphabet with padding, and always with ``+``,
        ``/`` and ``=`` in it, so a client must URL-encode it (an unencoded
        ``+`` arrives as a space and the cursor is refused).
        """
        data = {
            "s": self.sort_by,
            "d": self.sort_dir,
            "v": _spell(self.value_us),
            "i": self.lead_id,
        }
        raw = json.dumps(data, separators=(",", ":")).encode()
        if alphabet == "urlsafe":
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")
        raw = _MARK + raw
        if len(raw) % 3 == 0:
            raw += b" "  # JSON allows trailing space; the padding "=" must show
        return base64.b64encode(raw).decode()

    @classmethod
    def decode(cls, text: str, alphabet: str = "urlsafe") -> Cursor:
        """Parse a client-supplied cursor; any damage is a 400."""
        try:
            if alphabet == "urlsafe":
                padded = text + "=" * (-len(text) % 4)
                raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            else:
                raw = base64.b64decode(text, validate=True).removeprefix(_MARK)
            data = _cursor_fields(json.loads(raw.decode()))
            return cls(data["s"], data["d"], stored_us(data["v"]), data["i"])
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise ApiError(400, "Invalid cursor.") from None


def _spell(us: int) -> str:
    """The position's instant: MEGA's millisecond spelling when it is exact."""
    ms, rest = divmod(us, 1000)
    return format_ms(ms) if not rest else f"{format_ms(ms)[:-1]}{rest:03d}Z"


def _cursor_fields(data: object) -> dict[str, str]:
    """Check the decoded cursor has exactly our four string fields."""
    if not isinstance(data, dict) or set(data) != {"s", "d", "v", "i"}:
        msg = "cursor is not an object with s, d, v, i"
        raise TypeError(msg)
    if not all(isinstance(value, str) for value in data.values()):
        msg = "cursor fields must be strings"
        raise TypeError(msg)
    return data
