"""Scripted API pages served by the emulator, and the no-loss check on what the tap wrote."""

from __future__ import annotations

import typing as t

from tap_mega.testing.emulator import DEMO_CUSTOMER_ID, Fault
from tap_mega.testing.leadgen import generate_leads
from tap_mega.timestamps import InvalidTimestampError, normalize_timestamp
from tests.helpers.sync import bookmark

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator
    from tests.helpers.sync import SyncResult


def sorted_leads(n: int, seed: int = 3) -> list[dict[str, t.Any]]:
    """Valid leads in the order an ascending walk returns them."""
    leads = generate_leads(n, seed=seed, customer_id=DEMO_CUSTOMER_ID)
    return sorted(leads, key=lambda lead: (normalize_timestamp(lead["updated_at"]), lead["id"]))


def page(leads: list[dict[str, t.Any]], next_cursor: str | None) -> dict[str, t.Any]:
    """A documented five-key page."""
    return {
        "leads": leads,
        "total": len(leads),
        "limit": 100,
        "offset": 0,
        "next_cursor": next_cursor,
    }


def script_pages(emulator: MegaEmulator, bodies: list[dict[str, t.Any]]) -> None:
    """Serve `bodies` as the responses to requests 1, 2, ... in order."""
    for k, body in enumerate(bodies, start=1):
        emulator.add_fault(Fault("body", at_request=k, body=body))


def leads_in(bodies: list[dict[str, t.Any]]) -> list[t.Any]:
    """Every lead the pages carry, in serving order (whatever their shape)."""
    found: list[t.Any] = []
    for body in bodies:
        leads = body.get("leads") if isinstance(body, dict) else None
        if isinstance(leads, list):
            found.extend(leads)
    return found


def updated_at_of(lead: t.Any) -> str | None:
    """A lead's canonical `updated_at`, or None when it has none worth comparing."""
    if not isinstance(lead, dict):
        return None
    try:
        return normalize_timestamp(lead.get("updated_at"))  # type: ignore[arg-type]
    except (InvalidTimestampError, TypeError, ValueError):
        return None


def assert_nothing_lost(result: SyncResult, served: list[t.Any]) -> None:
    """Records are a prefix of what was served; the last STATE points before the rest.

    The bookmark of the last STATE must be at or before the `updated_at` of every
    lead that was served but not emitted, so a run resumed from it sees them.
    A run that emitted neither a record nor a STATE gives nothing to check, so it
    fails here: a caller expecting that must say so itself.
    """
    emitted = result.ids
    assert emitted or result.states, "nothing was emitted: no RECORD and no STATE to check"
    assert emitted == [lead["id"] for lead in served[: len(emitted)]]
    if not result.states:
        return
    mark = bookmark(result.final_state).get("replication_key_value")
    if mark is None:
        return
    for lead in served[len(emitted) :]:
        stamp = updated_at_of(lead)
        if stamp is not None:
            assert mark <= stamp, f"STATE {mark} is past unemitted lead at {stamp}"
