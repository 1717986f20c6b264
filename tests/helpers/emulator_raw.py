"""Raw HTTP against the emulator, for the emulator's own tests: no tap in the way."""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from tap_mega.testing.emulator import LEADS_PATH

if TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator


class FakeClock:
    """A limiter clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def auth(emu: MegaEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.token}", "x-customer-id": emu.customer_id}


def connect(emu: MegaEmulator) -> http.client.HTTPConnection:
    split = urlsplit(emu.url)
    assert split.hostname is not None
    return http.client.HTTPConnection(split.hostname, split.port, timeout=10)


def raw_get(
    emu: MegaEmulator,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    """Send one GET with ``query`` exactly as given (nothing re-encoded); body unread."""
    conn = connect(emu)
    conn.request(
        "GET", LEADS_PATH + (f"?{query}" if query else ""), headers={**auth(emu), **(headers or {})}
    )
    return conn.getresponse(), conn


def fetch(
    emu: MegaEmulator, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One GET, URL-encoding ``params``: status, headers, body."""
    response, conn = raw_get(emu, urlencode(params or {}), headers)
    try:
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
