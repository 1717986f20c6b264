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
- ``instants``: ISO-8601 timestamps parsed to epoch microseconds;
- ``windows``: how one rate window counts, in each reading (sliding log, fixed,
  clock-aligned, token bucket), and a perfect client's floor under each;
- ``headers``: how ``RateLimit-Reset`` and ``Retry-After`` are spelled;
- ``limiter``: the limiter behind ``RateLimit-*`` and the 429s;
- ``spelling``: how served timestamps are spelled;
- ``data``: a stored lead and the JSON it is served as;
- ``cursor``: the opaque keyset cursor;
- ``query``: the list request's parameters, paging readings and row filters;
- ``store``: the leads, their indexes and the data clock;
- ``edits``: data changes a test scripts;
- ``faults``: scripted misbehaviour and its responses;
- ``api``: routing, authentication and the page itself;
- ``transfer``: gzip, chunking and bodies cut short on the wire;
- ``server``: the HTTP server and handler;
- ``neighbour``: another integration spending the same token's budget;
- ``core``: :class:`MegaEmulator`, which assembles them;
- ``readings``: the command line's flags for the readings;
- ``cli``: the demo server's command line.

Every reading of what MEGA's docs leave open is a keyword of
:class:`MegaEmulator` and a flag of the command line; the defaults are the
emulator's own careful reading.

This ``__init__`` is the public interface: import from here, not from the modules.
"""

from __future__ import annotations

from tap_mega.testing.emulator.cli import main
from tap_mega.testing.emulator.core import MegaEmulator
from tap_mega.testing.emulator.cursor import CURSOR_ALPHABETS
from tap_mega.testing.emulator.faults import FAULT_KINDS, Fault
from tap_mega.testing.emulator.headers import RESET_ROUNDINGS, RETRY_AFTER_FORMS
from tap_mega.testing.emulator.instants import parse_instant
from tap_mega.testing.emulator.limiter import TIE_BREAKS, RateLimiter, RateWindow
from tap_mega.testing.emulator.query import LIMIT_READINGS, parse_query
from tap_mega.testing.emulator.spelling import TIMESTAMP_STYLES
from tap_mega.testing.emulator.windows import LIMITER_MODELS, limiter_floor
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
    "CURSOR_ALPHABETS",
    "DEMO_CUSTOMER_ID",
    "DEMO_TOKEN",
    "FAULT_KINDS",
    "LEADS_PATH",
    "LIMITER_MODELS",
    "LIMIT_READINGS",
    "READ_SCOPE",
    "RESET_ROUNDINGS",
    "RETRY_AFTER_FORMS",
    "TIE_BREAKS",
    "TIMESTAMP_STYLES",
    "Fault",
    "MegaEmulator",
    "RateLimiter",
    "RateWindow",
    "RecordedRequest",
    "limiter_floor",
    "main",
    "parse_instant",
    "parse_query",
]
