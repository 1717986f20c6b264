"""An in-process stand-in for MEGA's ``GET /api/agents/crm/leads``.

No machine of ours can reach MEGA, so the tap is only as right as this
emulator is faithful: it follows ``shared/mega-api.md`` to the letter, and
where that page is silent it does what a careful API would and says so in a
comment marked "Silent in the docs".

Besides serving, it lets tests misbehave on purpose (faults, rate limits,
data changing mid-sync, late commits) and records every request it received.
Run ``python -m tap_mega.testing.emulator --help`` for the demo server.

The modules, each importing only those listed before it:

- ``wire``: the API's constants, recorded requests, responses and error envelopes;
- ``instants``: ISO-8601 timestamps parsed to epoch milliseconds;
- ``limiter``: the rate windows and the limiter behind ``RateLimit-*``;
- ``data``: a stored lead and the JSON it is served as;
- ``cursor``: the opaque keyset cursor;
- ``query``: the list request's parameters and the row filters they make;
- ``store``: the leads, their indexes and the data clock;
- ``edits``: data changes a test scripts;
- ``faults``: scripted misbehaviour and its responses;
- ``api``: routing, authentication and the page itself;
- ``server``: the HTTP server and handler;
- ``core``: :class:`MegaEmulator`, which assembles them;
- ``cli``: the demo server's command line.

This ``__init__`` is the public interface: import from here, not from the modules.
"""

from __future__ import annotations

from tap_mega.testing.emulator.cli import main
from tap_mega.testing.emulator.core import MegaEmulator
from tap_mega.testing.emulator.faults import FAULT_KINDS, Fault
from tap_mega.testing.emulator.instants import parse_instant
from tap_mega.testing.emulator.limiter import RateLimiter, RateWindow
from tap_mega.testing.emulator.query import parse_query
from tap_mega.testing.emulator.wire import (
    DEMO_CUSTOMER_ID,
    DEMO_TOKEN,
    LEADS_PATH,
    READ_SCOPE,
    RecordedRequest,
)

#: The pacer's tests drive the limiter directly, under its former private name.
_RateLimiter = RateLimiter

__all__ = [
    "DEMO_CUSTOMER_ID",
    "DEMO_TOKEN",
    "FAULT_KINDS",
    "LEADS_PATH",
    "READ_SCOPE",
    "Fault",
    "MegaEmulator",
    "RateLimiter",
    "RateWindow",
    "RecordedRequest",
    "main",
    "parse_instant",
    "parse_query",
]
