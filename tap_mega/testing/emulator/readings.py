"""The command line's readings: one flag per choice the docs leave open.

Each flag maps to one keyword of :class:`MegaEmulator`; the defaults are the
emulator's own reading, so the demo server without flags is unchanged.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tap_mega.cli.argtypes import above_zero, whole_number
from tap_mega.testing.emulator.cursor import CURSOR_ALPHABETS
from tap_mega.testing.emulator.faults import FAULT_KINDS, Fault
from tap_mega.testing.emulator.headers import RESET_ROUNDINGS, RETRY_AFTER_FORMS
from tap_mega.testing.emulator.limiter import TIE_BREAKS
from tap_mega.testing.emulator.query import LIMIT_READINGS
from tap_mega.testing.emulator.spelling import TIMESTAMP_STYLES
from tap_mega.testing.emulator.windows import LIMITER_MODELS

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["add_reading_options", "reading_kwargs"]


def _flag(text: str) -> bool:
    """A fault's boolean option: ``1``, ``true`` or ``yes`` (any case)."""
    return text.lower() in ("1", "true", "yes")


_FAULT_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "at": ("at_request", int),
    "count": ("count", int),
    "p": ("probability", float),
    "seed": ("seed", int),
    "status": ("status", int),
    "html": ("html", _flag),
    "seconds": ("seconds", float),
    "retry_after": ("retry_after", int),
}


def _latency(text: str) -> tuple[float, float]:
    """``--latency``: ``MS`` or ``LOW-HIGH`` milliseconds."""
    low, _, high = text.partition("-")
    try:
        pair = (float(low), float(high or low))
    except ValueError:
        pair = (-1.0, -1.0)
    if not 0 <= pair[0] <= pair[1]:
        msg = f"expected milliseconds as MS or LOW-HIGH (0 <= LOW <= HIGH), not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return pair


def _deletions(text: str) -> tuple[int, int]:
    """``--delete N/K``: ``N`` leads before every ``K``-th request."""
    count, _, every = text.partition("/")
    try:
        pair = (int(count), int(every))
    except ValueError:
        pair = (0, 0)
    if min(pair) < 1:
        msg = f"expected N/K with N >= 1 leads and every K >= 1 requests, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return pair


def _fault(text: str) -> Fault:
    """``--fault KIND[:key=value,...]``, keys as in :data:`_FAULT_KEYS`."""
    kind, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    try:
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            name, convert = _FAULT_KEYS[key.strip()]
            options[name] = convert(value.strip())
        return Fault(kind.strip(), **options)
    except (KeyError, ValueError) as exc:
        reason = f"unknown key {exc}" if isinstance(exc, KeyError) else str(exc)
        msg = f"bad fault {text!r}: {reason}"
        raise argparse.ArgumentTypeError(msg) from None


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """Add the readings' flags, in groups, each with its ``--help`` line."""
    limits = parser.add_argument_group("rate-limit readings")
    limits.add_argument(
        "--limiter",
        choices=LIMITER_MODELS,
        default="sliding",
        help="how a window counts: an exact sliding log (default), fixed "
        "windows opened at the first hit, fixed windows aligned to the "
        "clock, or a token bucket refilling limit/seconds a second",
    )
    limits.add_argument(
        "--limiter-phase",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="where --limiter aligned starts its windows on the clock",
    )
    limits.add_argument(
        "--refusals-spend", action="store_true", help="a 429 counts against the budget too"
    )
    limits.add_argument(
        "--errors-spend",
        action="store_true",
        help="a 5xx fault passes the limiter and counts against the budget",
    )
    limits.add_argument(
        "--report-tie",
        choices=TIE_BREAKS,
        default="constrained",
        help="the window the RateLimit-* headers report when several have "
        "the fewest left: the one refilling last (default), the "
        "shortest (minute) or the longest (hour)",
    )
    limits.add_argument(
        "--reset-rounding",
        choices=RESET_ROUNDINGS,
        default="ceil",
        help="RateLimit-Reset rounded up to whole seconds (default), "
        "down, or exact to the millisecond",
    )
    limits.add_argument(
        "--retry-after",
        choices=RETRY_AFTER_FORMS,
        default="seconds",
        help="Retry-After as whole seconds (default), an HTTP date, or seconds with a fraction",
    )
    limits.add_argument(
        "--latency",
        type=_latency,
        default=None,
        metavar="MS|LOW-HIGH",
        help="count (and serve) each request this many milliseconds after "
        "it arrives, drawn uniformly from the range",
    )
    limits.add_argument(
        "--other-integration",
        type=above_zero("requests a second above 0"),
        default=0.0,
        metavar="RPS",
        help="another integration spends the same token's budget at RPS requests a second",
    )
    wire = parser.add_argument_group("wire readings")
    wire.add_argument(
        "--date-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="the Date header runs this many seconds ahead of the local "
        "clock (negative: behind), as a server with a skewed clock",
    )
    wire.add_argument(
        "--gzip",
        action="store_true",
        help="gzip responses for clients that send Accept-Encoding: gzip",
    )
    wire.add_argument(
        "--chunked",
        action="store_true",
        help="Transfer-Encoding: chunked instead of Content-Length",
    )
    wire.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND[:KEY=VALUE,...]",
        help=f"script a fault (repeatable); KIND is one of "
        f"{', '.join(sorted(FAULT_KINDS - {'body'}))}; keys: "
        f"{', '.join(_FAULT_KEYS)} (p: probability); e.g. "
        f"status:status=502,html=1,p=0.05 or reset:at=3",
    )
    data = parser.add_argument_group("data readings")
    data.add_argument(
        "--timestamps",
        choices=TIMESTAMP_STYLES,
        default="mega",
        help="timestamp spelling: UTC with milliseconds (default), as given, "
        "at a +02:00 offset, without a fraction, or with microseconds",
    )
    data.add_argument(
        "--cursor-alphabet",
        choices=CURSOR_ALPHABETS,
        default="urlsafe",
        help="base64url cursors (default), or standard base64 with +, / and =",
    )
    data.add_argument(
        "--max-limit",
        type=whole_number("a page size of at least 1", 1),
        default=100,
        metavar="N",
        help="the largest page MEGA serves (default: the documented 100)",
    )
    data.add_argument(
        "--limit-above-max",
        choices=LIMIT_READINGS,
        default="refuse",
        help="limit above 100: a 400 (default) or capped to 100",
    )
    data.add_argument(
        "--trailing-empty-page",
        action="store_true",
        help="a full last page carries a cursor to an empty, final page",
    )
    data.add_argument(
        "--delete",
        type=_deletions,
        default=None,
        metavar="N/K",
        help="delete N leads before every K-th request (total shrinks)",
    )


def reading_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`MegaEmulator` keywords the parsed flags select."""
    return {
        "limiter": args.limiter,
        "limiter_phase": args.limiter_phase,
        "refusals_spend": args.refusals_spend,
        "errors_spend": args.errors_spend,
        "report_tie": args.report_tie,
        "reset_rounding": args.reset_rounding,
        "retry_after": args.retry_after,
        "latency_ms": args.latency,
        "other_integration_rps": args.other_integration,
        "gzip": args.gzip,
        "chunked": args.chunked,
        "timestamps": args.timestamps,
        "cursor_alphabet": args.cursor_alphabet,
        "limit_above_max": args.limit_above_max,
        "max_limit": args.max_limit,
        "trailing_empty_page": args.trailing_empty_page,
        "deletions": args.delete,
        "date_offset": args.date_offset,
    }
