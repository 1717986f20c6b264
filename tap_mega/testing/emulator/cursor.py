"""The keyset cursor: an opaque position after the last lead of a page."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from tap_mega.testing.emulator.instants import stored_ms
from tap_mega.testing.emulator.wire import ApiError
from tap_mega.testing.leadgen import format_ms

__all__ = ["Cursor"]


@dataclass(frozen=True)
class Cursor:
    """Decoded keyset position: the last lead returned on the previous page."""

    sort_by: str
    sort_dir: str
    value_ms: int
    lead_id: str

    def encode(self) -> str:
        """Opaque to clients: base64url (unpadded) of a small JSON object."""
        data = {"s": self.sort_by, "d": self.sort_dir, "v": format_ms(self.value_ms),
                "i": self.lead_id}
        raw = json.dumps(data, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a client-supplied cursor; any damage is a 400."""
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            data = _cursor_fields(json.loads(raw.decode()))
            return cls(data["s"], data["d"], stored_ms(data["v"]), data["i"])
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise ApiError(400, "Invalid cursor.") from None


def _cursor_fields(data: object) -> dict[str, str]:
    """Check the decoded cursor has exactly our four string fields."""
    if not isinstance(data, dict) or set(data) != {"s", "d", "v", "i"}:
        msg = "cursor is not an object with s, d, v, i"
        raise TypeError(msg)
    if not all(isinstance(value, str) for value in data.values()):
        msg = "cursor fields must be strings"
        raise TypeError(msg)
    return data

