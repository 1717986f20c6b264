"""A stored lead: the lead as MEGA serves it plus what queries need, parsed once."""

from __future__ import annotations

import re
from typing import Any

from tap_mega.testing.emulator.instants import stored_ms
from tap_mega.testing.emulator.wire import dumps
from tap_mega.testing.leadgen import format_ms

__all__ = ["NON_DIGITS_RE", "Row", "copy_lead", "ingest", "serve_lead"]

NON_DIGITS_RE = re.compile(r"\D")


class Row:
    """A stored lead plus the parsed values that queries need."""

    __slots__ = (
        "created_ms", "digits", "haystack", "json_full", "json_plain", "last_ms", "lead",
        "updated_ms",
    )

    def __init__(self, lead: dict[str, Any]) -> None:
        """Parse once at write time so reads never parse."""
        self.lead = lead
        self.created_ms = stored_ms(lead["created_at"])
        self.updated_ms = stored_ms(lead["updated_at"])
        last = lead.get("last_interaction_at")
        self.last_ms: int | None = None if last is None else stored_ms(last)
        self.haystack = ""
        self.digits = ""
        self.json_full: bytes | None = None
        self.json_plain: bytes | None = None
        self.refresh()

    def refresh(self) -> None:
        """Recompute derived data after the lead changed."""
        self.json_full = self.json_plain = None
        parts = (self.lead.get(k) for k in ("contact_name", "contact_email", "contact_phone"))
        self.haystack = "\n".join(str(p).casefold() for p in parts if p is not None)
        phone = self.lead.get("contact_phone")
        self.digits = NON_DIGITS_RE.sub("", phone) if isinstance(phone, str) else ""

    def encoded(self, *, include_custom_fields: bool) -> bytes:
        """The lead's JSON, cached: encoding dominated page time otherwise."""
        cached = self.json_full if include_custom_fields else self.json_plain
        if cached is None:
            served = serve_lead(self.lead, include_custom_fields=include_custom_fields)
            cached = dumps(served)
            if include_custom_fields:
                self.json_full = cached
            else:
                self.json_plain = cached
        return cached

    def sort_ms(self, sort_by: str) -> int | None:
        """The parsed value of the sort column."""
        if sort_by == "updated_at":
            return self.updated_ms
        if sort_by == "created_at":
            return self.created_ms
        return self.last_ms


def serve_lead(lead: dict[str, Any], *, include_custom_fields: bool) -> dict[str, Any]:
    """The lead as served: ``custom_fields`` only when asked for."""
    if include_custom_fields:
        return lead
    return {k: v for k, v in lead.items() if k != "custom_fields"}


def copy_lead(lead: dict[str, Any]) -> dict[str, Any]:
    """Copy deep enough that callers cannot reach the emulator's state."""
    copied = dict(lead)
    for key in ("custom_fields", "current_stage", "owner"):
        if isinstance(copied.get(key), dict):
            copied[key] = dict(copied[key])
    return copied


def ingest(lead: dict[str, Any]) -> dict[str, Any]:
    """Copy a caller's lead and re-spell its timestamps as MEGA serves them.

    Silent in the docs: missing fields are not invented (tests may build
    deliberately odd leads), but ``custom_fields`` defaults to ``{}`` because
    the API always has that object to return.
    """
    copied = copy_lead(lead)
    for key in ("created_at", "updated_at", "last_interaction_at"):
        if copied.get(key) is not None:
            copied[key] = format_ms(stored_ms(copied[key]))
    copied.setdefault("custom_fields", {})
    return copied
