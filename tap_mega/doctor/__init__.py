"""`tap-mega-doctor`: before a first sync, does this MEGA account meet the tap's assumptions?

The modules, each importing only those listed before it:

- ``report``: the report's lines and its text and JSON forms;
- ``probe``: the (at most three) requests, sent by the tap's own stream;
- ``caused``: requests sent on the doctor's behalf before it ran (Meltano's
  discovery);
- ``budget``: the window, the use of it besides the doctor's, the first sync's
  requests, duration (the pacer's rule from the window as reported) and schedule;
- ``checks``: connection, account and lead counts;
- ``mirror``: a reconcile pass's cost and cadence, a quiet run's, and the state's
  pass under way (what it has left) or when the next one starts;
- ``assumptions``: the page, timestamps, cursor, clock and header forms;
- ``command``: the command line.

An entry point: nothing else in the package imports it.
"""

from __future__ import annotations

from tap_mega.doctor.command import main

__all__ = ["main"]
