"""The demo server's command line: ``python -m tap_mega.testing.emulator``."""

from __future__ import annotations

import argparse
import sys
import threading
import uuid
from typing import TYPE_CHECKING

from tap_mega.cli.argtypes import whole_number
from tap_mega.testing.emulator.core import MegaEmulator
from tap_mega.testing.emulator.limiter import RateWindow
from tap_mega.testing.emulator.readings import add_reading_options, reading_kwargs

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _parse_windows(text: str) -> list[RateWindow]:
    """``"60/60,1000/3600"`` -> windows (limit/seconds)."""
    windows = []
    for part in text.split(","):
        limit, _, seconds = part.strip().partition("/")
        try:
            windows.append(RateWindow(int(limit), float(seconds)))
        except ValueError:
            msg = f"bad rate window {part!r}; expected LIMIT/SECONDS"
            raise argparse.ArgumentTypeError(msg) from None
    return windows


def _customer_id(text: str) -> str:
    """``--customer-id``: a UUID, as MEGA's customer ids are (the tap checks its config so)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        msg = f"expected a customer UUID, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _arg_parser() -> argparse.ArgumentParser:
    """The demo server's options."""
    parser = argparse.ArgumentParser(
        prog="python -m tap_mega.testing.emulator",
        description="Serve an emulated MEGA lead API for demos and manual testing. "
        "The readings below play the choices MEGA's docs leave open; "
        "their defaults are the emulator's own reading.",
    )
    parser.add_argument(
        "--leads",
        type=whole_number("a whole number of leads, 0 or more", 0),
        default=5000,
        help="number of generated leads",
    )
    parser.add_argument(
        "--port",
        type=whole_number("a port from 0 to 65535 (0: any free port)", 0, 65535),
        default=8765,
        help="0 picks a free port",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--customer-id",
        type=_customer_id,
        default=None,
        help="the account's customer UUID (default: the demo customer); "
        "another plays another account, whose state the tap refuses",
    )
    limits = parser.add_mutually_exclusive_group()
    limits.add_argument(
        "--rate-limit",
        type=_parse_windows,
        default=None,
        help='windows as "LIMIT/SECONDS,...", default "60/60,1000/3600"',
    )
    limits.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    add_reading_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C, after printing how to point the tap at it."""
    parser = _arg_parser()
    args = parser.parse_args(argv)
    windows: list[RateWindow] | None = [] if args.no_rate_limit else args.rate_limit
    emu = MegaEmulator(
        n_leads=args.leads,
        seed=args.seed,
        customer_id=args.customer_id,
        rate_windows=windows,
        port=args.port,
        host=args.host,
        verbose=args.verbose,
        **reading_kwargs(args),
    )
    for fault in args.fault:
        emu.add_fault(fault)
    try:
        emu.start()
    except OSError as exc:  # port taken, host unknown: the flags' fault, not a bug
        parser.error(
            f"argument --port/--host: cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror or exc}"
        )
    with emu:
        # Printing the demo token is intended: it is a public, fixed demo value.
        sys.stdout.write(
            f"MEGA emulator serving {args.leads} leads at {emu.url}\n"
            f"token:       {emu.token}\ncustomer id: {emu.customer_id}\n"
            f"export TAP_MEGA_API_URL={emu.url} TAP_MEGA_TOKEN={emu.token} "
            f"TAP_MEGA_CUSTOMER_ID={emu.customer_id}\n",
        )
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            sys.stdout.write("stopped\n")
    return 0
