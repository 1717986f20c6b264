"""`tap-mega-doctor`: before a first sync, does this MEGA account meet the tap's assumptions?

The modules, each importing only those listed before it:

- ``report``: the report's lines and its text and JSON forms;
- ``probe``: the (at most three) requests, sent by the tap's own stream;
- ``budget``: the window, others' use of it, the first sync's requests,
  duration (the pacer's ETA) and schedule;
- ``checks``: connection, account and lead counts;
- ``assumptions``: the page, timestamps, cursor, clock and header forms;
- ``command``: the command line.

An entry point: nothing else in the package imports it.
"""

from __future__ import annotations

from tap_mega.doctor.command import main

__all__ = ["main"]
