"""A stored lead: the lead as MEGA serves it plus what queries need, parsed once."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tap_mega.testing.emulator.instants import stored_us
from tap_mega.testing.emulator.wire import dumps
from tap_mega.testing.leadgen import generate_leads

if TYPE_CHECKING:
    from tap_mega.testing.emulator.spelling import Spelling

__all__ = ["NON_DIGITS_RE", "Row", "copy_lead", "ingest", "serve_lead"]

NON_DIGITS_RE = re.compile(r"\D")


class Row:
    """A stored lead plus the parsed values that queries need."""

    __slots__ = (
        "created_us",
        "digits",
        "haystack",
        "json_full",
        "json_plain",
        "last_us",
        "lead",
        "updated_us",
    )

    def __init__(self, lead: dict[str, Any]) -> None:
        """Parse once at write time so reads never parse; instants in microseconds."""
        self.lead = lead
        self.created_us = stored_us(lead["created_at"])
        self.updated_us = stored_us(lead["updated_at"])
        last = lead.get("last_interaction_at")
        self.last_us: int | None = None if last is None else stored_us(last)
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

    def sort_us(self, sort_by: str) -> int | None:
        """The parsed value of the sort column."""
        if sort_by == "updated_at":
            return self.updated_us
        if sort_by == "created_at":
            return self.created_us
        return self.last_us


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


def ingest(lead: dict[str, Any], spelling: Spelling) -> dict[str, Any]:
    """Copy a caller's lead and spell its timestamps as the emulator serves them.

    Silent in the docs: missing fields are not invented (tests may build
    deliberately odd leads), but ``custom_fields`` defaults to ``{}`` because
    the API always has that object to return.
    """
    copied = spelling.respell(copy_lead(lead))
    copied.setdefault("custom_fields", {})
    return copied


def initial_leads(
    leads: list[dict[str, Any]] | None,
    n_leads: int,
    seed: int,
    customer_id: str,
    spelling: Spelling,
) -> list[dict[str, Any]]:
    """The given leads (copied, spelled) or ``n_leads`` generated ones."""
    if leads is not None:
        return [ingest(lead, spelling) for lead in leads]
    generated = generate_leads(n_leads, seed=seed, customer_id=customer_id)
    return generated if spelling.is_default else [spelling.respell(lead) for lead in generated]
