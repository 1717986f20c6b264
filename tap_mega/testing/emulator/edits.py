"""Data changes a test scripts: updates, inserts, late commits, forced stamps.

Each change goes through the store, so indexes, the data clock and the cached
JSON stay in step; the caller holds the emulator's lock.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from tap_mega.testing.emulator.data import copy_lead
from tap_mega.testing.emulator.instants import stored_us
from tap_mega.testing.leadgen import generate_leads, make_uuid

if TYPE_CHECKING:
    from tap_mega.testing.emulator.spelling import Spelling
    from tap_mega.testing.emulator.store import LeadStore

__all__ = ["LeadEditor"]


class LeadEditor:
    """Changes leads in a store, drawing choices from one reproducible stream."""

    def __init__(self, store: LeadStore, customer_id: str, seed: int, spelling: Spelling) -> None:
        """Keep the store; the stream is seeded apart from the data's seed."""
        self._store = store
        self._customer_id = customer_id
        self._spelling = spelling
        # Reproducible test data, not security: S311 does not apply.
        self._rng = random.Random(f"mega-emulator-mutations-{seed}")  # noqa: S311

    def pick(self, count: int, seed: int | None, pool: list[str]) -> list[str]:
        """Choose leads reproducibly: from ``seed`` or the editor's own stream."""
        if count > len(pool):
            msg = f"cannot pick {count} leads out of {len(pool)}"
            raise ValueError(msg)
        rng = self._rng if seed is None else random.Random(seed)  # noqa: S311 - test data
        return rng.sample(pool, count)

    def update(
        self,
        ids: list[str] | None,
        count: int | None,
        seed: int | None,
        field_changes: dict[str, Any],
    ) -> list[str]:
        """See :meth:`MegaEmulator.update_leads`."""
        forbidden = {"id", "customer_id", "created_at", "updated_at"} & set(field_changes)
        if forbidden:
            msg = f"cannot change {sorted(forbidden)} (use set_updated_at for updated_at)"
            raise ValueError(msg)
        store = self._store
        if ids is None:
            ids = self.pick(count or 1, seed, list(store.rows))
        chosen = list(ids)
        missing = [i for i in chosen if i not in store.rows]
        if missing:
            raise KeyError(missing[0])
        now = store.tick()
        for lead_id in chosen:
            self._apply(lead_id, field_changes, now)
            store.set_updated(lead_id, self._spelling.spell(now))
        return chosen

    def _apply(self, lead_id: str, changes: dict[str, Any], now: int) -> None:
        """Apply field changes in place, keeping search data in sync."""
        row = self._store.rows[lead_id]
        lead = row.lead
        if not changes:
            changes = {
                "interaction_count": int(lead.get("interaction_count") or 0) + 1,
                "last_interaction_at": self._spelling.spell(now),
            }
        for key, value in changes.items():
            if key == "custom_fields":
                lead["custom_fields"] = {**(lead.get("custom_fields") or {}), **value}
            elif key == "last_interaction_at" and value is not None:
                lead[key] = self._spelling.ingest(value)
                row.last_us = stored_us(lead[key])
            else:
                # Unknown keys are allowed: tests may add a field MEGA starts
                # sending to prove the tap passes it through.
                lead[key] = dict(value) if isinstance(value, dict) else value
                if key == "last_interaction_at":
                    row.last_us = None
        row.refresh()

    def insert(self, n: int, seed: int | None) -> list[dict[str, Any]]:
        """See :meth:`MegaEmulator.insert_leads`."""
        store = self._store
        gen_seed = self._rng.getrandbits(32) if seed is None else seed
        fresh = generate_leads(n, seed=gen_seed, customer_id=self._customer_id)
        now = self._spelling.spell(store.tick())
        for lead in fresh:
            while lead["id"] in store.rows:
                lead["id"] = make_uuid(self._rng)
            lead.update(
                created_at=now, updated_at=now, last_interaction_at=None, interaction_count=0
            )
            store.insert(lead)
        return [copy_lead(lead) for lead in fresh]

    def late_commit(self, count: int, seconds_before: float, seed: int | None) -> list[str]:
        """See :meth:`MegaEmulator.late_commit`."""
        store = self._store
        before_us = round(seconds_before * 1000) * 1000
        stamp = self._spelling.quantize(store.max_updated_us() - before_us)
        pool = [lead_id for us, lead_id in store.by_updated if us < stamp]
        chosen = self.pick(count, seed, pool)
        for lead_id in chosen:
            self._apply(lead_id, {}, stamp)
            store.set_updated(lead_id, self._spelling.spell(stamp))
        return chosen

    def set_updated_at(self, lead_id: str, iso_string: str) -> None:
        """See :meth:`MegaEmulator.set_updated_at`."""
        self._store.set_updated(lead_id, self._spelling.ingest(iso_string))

    def delete(self, ids: list[str] | None, count: int | None, seed: int | None) -> list[str]:
        """See :meth:`MegaEmulator.delete_leads`."""
        store = self._store
        chosen = list(ids) if ids is not None else self.pick(count or 1, seed, list(store.rows))
        missing = [i for i in chosen if i not in store.rows]
        if missing:
            raise KeyError(missing[0])
        for lead_id in chosen:
            store.delete(lead_id)
        return chosen
