"""Deterministic, realistic MEGA leads for the emulator, tests and benchmarks.

The data is shaped to exercise what breaks taps, not to look pretty: many leads
share one ``updated_at`` (so ties straddle page boundaries), every nullable
field is sometimes null, custom fields cover every JSON scalar type (one slug,
``bedrooms``, with mixed types; one, ``preferred_contact``, only on leads updated
after it was "created", late in the data) and a few leads carry enum values the
documentation does not list.

Benchmarks generate a million leads, so the hot loop draws from ``random.random()``,
formats timestamps by hand and shares the ``current_stage`` and ``owner`` objects
(nothing here mutates them).
"""

from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "DEFAULT_START",
    "OWNERS",
    "SOURCE_PLATFORMS",
    "SOURCE_TYPES",
    "STAGES",
    "STATUSES",
    "format_ms",
    "generate_leads",
    "make_uuid",
]

#: Fixed so that generated data never depends on the wall clock.
DEFAULT_START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)

# Data tables, laid out by hand: one value a line would double this module.
# fmt: off
STATUSES: tuple[str, ...] = ("active", "won", "lost", "nurture", "archived")
SOURCE_PLATFORMS: tuple[str, ...] = (
    "google_ads", "meta_ads", "google_organic", "direct", "referral", "hubspot",
    "zoho", "ghl", "shopify", "zenmaid", "lead_docket", "salesforce",
)
SOURCE_TYPES: tuple[str, ...] = (
    "form", "phone_call", "email", "chat", "sms", "manual", "import",
)
# Values the docs do not list: real APIs grow enums, a tap must pass them through.
EXOTIC_PLATFORMS: tuple[str, ...] = ("tiktok_ads", "nextdoor")
EXOTIC_SOURCE_TYPES: tuple[str, ...] = ("whatsapp",)

# Pipeline stages and owners are per-customer configuration, so a small fixed
# set shared by all leads is both realistic and memory-cheap.
STAGES: tuple[dict[str, Any], ...] = (
    {"id": "4f1c2a9e-7b3d-4e2a-9c1b-0a6d2e8f5b01", "slug": "new",
     "name": "New", "color": "#3b82f6"},
    {"id": "8a2e5d7c-1f4b-4c3e-8d2a-6b9e0c1f7a02", "slug": "contacted",
     "name": "Contacted", "color": "#f59e0b"},
    {"id": "c3d9e1f2-5a6b-4d7c-9e8f-1a2b3c4d5e03", "slug": "qualified",
     "name": "Qualified", "color": "#22c55e"},
    {"id": "1b7f3e5d-9c2a-4b8e-a6d4-2f0e9c8b7a04", "slug": "showing",
     "name": "Showing", "color": None},
    {"id": "e6a4c2b0-3d5f-4e7a-b9c1-8d0f2e4a6c05", "slug": "under_contract",
     "name": "Under Contract", "color": "#a855f7"},
    {"id": "5d3b1f9e-7c5a-4e3d-8b1f-9e7c5a3d1b06", "slug": "closed",
     "name": "Closed", "color": "#64748b"},
)
OWNERS: tuple[dict[str, Any], ...] = (
    {"id": "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a11", "name": "Dana Whitfield",
     "role_name": "Team Lead"},
    {"id": "2b3c4d5e-6f70-4819-a2b3-c4d5e6f7a812", "name": "Marcus Oyelaran",
     "role_name": "Agent"},
    {"id": "4d5e6f70-8192-4a3b-b4c5-d6e7f8091a13", "name": "Priya Raman",
     "role_name": "Agent"},
    {"id": "6f708192-a3b4-4c5d-86e7-f8091a2b3c14", "name": "Tomás Herrera",
     "role_name": None},
    {"id": "8192a3b4-c5d6-4e7f-9809-1a2b3c4d5e15", "name": "Ava Lindqvist",
     "role_name": "ISA"},
)

_FIRST = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael",
    "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan",
    "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Daniel", "Nancy",
    "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Wei", "Ashley",
    "Steven", "Kimberly", "Andrew", "Emily", "Kenji", "Donna", "Joshua", "Michelle",
    "Kevin", "Carol", "Brian", "Amanda", "Aisha", "Melissa", "Timothy", "Deborah",
    "José", "Stephanie", "Jason", "Rebecca", "Olu", "Sharon", "Ryan", "Laura",
    "Zoë", "Cynthia", "Gary", "Amy", "Nicholas", "Ngozi",
)
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson",
    "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez",
    "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "O'Brien", "Okafor", "Kim",
    "Patel", "Nakamura", "Schmidt", "Dubois", "Rossi", "Kowalski", "Cohen", "Ali",
)
_DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com",
    "aol.com", "proton.me", "comcast.net",
)
_AREA_CODES = (
    "206", "425", "253", "360", "503", "415", "212", "312", "305", "512",
    "602", "303", "617", "404", "702", "619", "214", "713", "615", "919",
)
_TIMELINES = ("0-3 months", "3-6 months", "6-12 months", "12+ months", "just looking")
_NOTES = (
    "Prefers text", "Call after 5pm", "Relocating for work", "First-time buyer",
    "Has a pre-approval letter", "Wants a big yard", "Spanish speaking",
)
#: ``bedrooms``: mostly a count, sometimes text, as a form field left free would be.
_BEDROOM_WORDS = ("studio", "5+")
_CONTACT_PREFERENCES = ("text", "call", "email")
# fmt: on

# Phones must be unique on their last 10 digits (MEGA de-duplicates on them):
# a step coprime with the 8,000,000 valid 7-digit NANP subscriber numbers
# walks all of them before repeating.
_PHONE_SPAN = 8_000_000
_PHONE_STEP = 7919

# Shares of leads (cumulative where named "_OR_"): realistic proportions that
# still put every null, every type and every edge case in a few hundred leads.
_P_ALONE = 0.55  # leads updated alone; then groups of 2-10, then bulk 10-150
_P_ALONE_OR_SMALL = 0.85
_P_NEVER_UPDATED = 0.3
_P_BUYER = 0.45
_P_BUYER_OR_SELLER = 0.8  # the rest have no lead_line at all
_P_BUDGET = 0.7
_P_PRICE = 0.6
_P_PREAPPROVED = 0.6
_P_TIMELINE = 0.5
_P_NOTES = 0.3
_P_NULL_VALUE = 0.1
_P_NULL_NAME = 0.05
_P_NULL_CONTACT = 0.15
_P_NO_INTERACTION = 0.25
_P_NULL_SCORE = 0.3
_P_NULL_QUALIFIED = 0.3
_P_NULL_OR_QUALIFIED = 0.65
_P_NO_STAGE = 0.15
_P_NO_OWNER = 0.2
_P_EXOTIC = 0.005
_P_BEDROOMS = 0.5
_P_BEDROOM_WORD = 0.2
_P_PREFERRED_CONTACT = 0.7
#: ``preferred_contact`` is created when this share of the leads was last updated.
_PREFERRED_CONTACT_CREATED_AT = 0.9
_HALF = 0.5

_MS_PER_DAY = 86_400_000
_day_cache: dict[int, str] = {}
# Lookup tables turn formatting into three concatenations (see format_ms).
_HH_MM = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SS_MS = [f"{s:02d}.{m:03d}Z" for s in range(60) for m in range(1000)]


def format_ms(ms: int) -> str:
    """``2026-07-01T18:20:00.000Z``, as MEGA writes it; tables, as strftime was too slow."""
    day, rest = divmod(ms, _MS_PER_DAY)
    prefix = _day_cache.get(day)
    if prefix is None:
        prefix = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
        _day_cache[day] = prefix
    minute, milli = divmod(rest, 60_000)
    return prefix + _HH_MM[minute] + _SS_MS[milli]


def make_uuid(rng: random.Random) -> str:
    """Draw a version-4 UUID from ``rng`` so ids are reproducible per seed."""
    bits = rng.getrandbits(128)
    h = f"{bits:032x}"
    variant = "89ab"[bits & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


@dataclass
class _Timeline:
    """Clock state of one generation run; groups share an ``updated_at``."""

    created_ms: int
    group_left: int = 0
    group_updated_ms: int = 0


def _group_size(rng: random.Random) -> int:
    """Mostly alone, but bulk jobs touch up to 150: more ties than a 100-lead page holds."""
    r = rng.random()
    if r < _P_ALONE:
        return 1
    if r < _P_ALONE_OR_SMALL:
        return 2 + int(rng.random() * 9)
    return 10 + int(rng.random() * 141)


def _next_times(rng: random.Random, tl: _Timeline) -> tuple[int, int]:
    """Advance the creation clock and return ``(created_ms, updated_ms)``.

    A group's shared ``updated_at`` lies after the creation of its first lead
    plus enough slack (the group's maximum span) to stay after every member's
    creation, so ``updated_at >= created_at`` always holds.
    """
    tl.created_ms += 1 + int(rng.expovariate(1 / 30_000))
    if tl.group_left == 0:
        size = _group_size(rng)
        tl.group_left = size
        if size == 1 and rng.random() < _P_NEVER_UPDATED:
            tl.group_updated_ms = tl.created_ms
        else:
            slack = size * 600_000 + int(rng.random() * 3 * _MS_PER_DAY)
            tl.group_updated_ms = tl.created_ms + slack
    tl.group_left -= 1
    return tl.created_ms, max(tl.created_ms, tl.group_updated_ms)


def _custom_fields(rng: random.Random) -> dict[str, Any]:
    """Return custom fields covering every scalar type, some keys absent.

    ``lead_line`` is MEGA's reserved slug; leaving it out of some leads keeps
    the ``lead_line`` filter honest.
    """
    cf: dict[str, Any] = {}
    r = rng.random()
    if r < _P_BUYER:
        cf["lead_line"] = "buyer"
    elif r < _P_BUYER_OR_SELLER:
        cf["lead_line"] = "seller"
    if rng.random() < _P_BUDGET:
        budget = 150_000 + int(rng.random() * 1_850_000)
        cf["budget"] = None if rng.random() < _P_NULL_VALUE else budget
    if rng.random() < _P_PRICE:
        price = (20_000 + int(rng.random() * 80_000)) / 100
        cf["price_per_sqft"] = price + 0.5 if price.is_integer() else price
    if rng.random() < _P_PREAPPROVED:
        cf["preapproved"] = rng.random() < _HALF
    if rng.random() < _P_TIMELINE:
        cf["timeline"] = _TIMELINES[int(rng.random() * len(_TIMELINES))]
    if rng.random() < _P_NOTES:
        null = rng.random() < _P_NULL_VALUE
        cf["notes"] = None if null else _NOTES[int(rng.random() * len(_NOTES))]
    return cf


def _contact(rng: random.Random, i: int, phone_offset: int) -> tuple[Any, Any, Any]:
    """Return ``(name, email, phone)``, each sometimes null.

    Emails embed ``i`` and phones walk a coprime step, so both stay unique
    within one run, as MEGA's de-duplication would make them.
    """
    first = _FIRST[int(rng.random() * len(_FIRST))]
    last = _LAST[int(rng.random() * len(_LAST))]
    name = None if rng.random() < _P_NULL_NAME else f"{first} {last}"
    email = None
    if rng.random() >= _P_NULL_CONTACT:
        local = f"{first}.{last}{i + 1}".lower().replace("'", "")
        email = f"{local}@{_DOMAINS[int(rng.random() * len(_DOMAINS))]}"
    phone = None
    if rng.random() >= _P_NULL_CONTACT:
        area = _AREA_CODES[i % len(_AREA_CODES)]
        seq = i // len(_AREA_CODES)
        sub = 2_000_000 + (seq * _PHONE_STEP + phone_offset) % _PHONE_SPAN
        phone = f"+1{area}{sub}"
    return name, email, phone


def _enum(
    rng: random.Random, values: tuple[str, ...], exotic: tuple[str, ...], p_exotic: float
) -> str:
    """Pick a documented value, or rarely an undocumented one."""
    r = rng.random()
    if r < p_exotic:
        return exotic[int(r / p_exotic * len(exotic))]
    return values[int(rng.random() * len(values))]


def _interaction(rng: random.Random, created: int, updated: int) -> tuple[str | None, int]:
    """Return ``(last_interaction_at, interaction_count)``; a quarter never interacted."""
    if rng.random() < _P_NO_INTERACTION:
        return None, 0
    last_ms = created + int(rng.random() * (updated - created + 1))
    return format_ms(last_ms), 1 + int(rng.random() * 40)


def _lead(rng: random.Random, i: int, ctx: _Context) -> dict[str, Any]:
    """Build one lead in the documented key order, as one dict literal for speed."""
    rnd = rng.random
    created, updated = _next_times(rng, ctx.timeline)
    name, email, phone = _contact(rng, i, ctx.phone_offset)
    last_at, count = _interaction(rng, created, updated)
    # Group members share one string object: same value, less memory.
    if ctx.last_updated[0] != updated:
        ctx.last_updated = (updated, format_ms(updated))
    q = rnd()
    return {
        "id": make_uuid(rng),
        "customer_id": ctx.customer_id,
        "contact_name": name,
        "contact_phone": phone,
        "contact_email": email,
        "source_platform": _enum(rng, SOURCE_PLATFORMS, EXOTIC_PLATFORMS, ctx.p_exotic),
        "source_type": _enum(rng, SOURCE_TYPES, EXOTIC_SOURCE_TYPES, ctx.p_exotic / 2),
        "status": STATUSES[int(rnd() * len(STATUSES))],
        "score": None if rnd() < _P_NULL_SCORE else int(rnd() * 101),
        "qualified": None if q < _P_NULL_QUALIFIED else q < _P_NULL_OR_QUALIFIED,
        "current_stage": None if rnd() < _P_NO_STAGE else STAGES[int(rnd() * len(STAGES))],
        "owner": None if rnd() < _P_NO_OWNER else OWNERS[int(rnd() * len(OWNERS))],
        "last_interaction_at": last_at,
        "interaction_count": count,
        "created_at": format_ms(created),
        "updated_at": ctx.last_updated[1],
        "custom_fields": _custom_fields(rng),
    }


@dataclass
class _Context:
    """Per-run constants and caches threaded through the builders."""

    customer_id: str
    p_exotic: float
    phone_offset: int
    timeline: _Timeline
    last_updated: tuple[int, str] = (-1, "")


def generate_leads(
    n: int,
    *,
    seed: int = 0,
    customer_id: str,
    start: datetime | None = None,
    exotic: bool = True,
) -> list[dict[str, Any]]:
    """Generate ``n`` leads, identical for identical arguments.

    ``start`` (default :data:`DEFAULT_START`, never the wall clock) is just
    before the first ``created_at``; later leads are created about 30 s apart.
    Leads are returned in creation order; ids are random so that tie-breaking
    by id is exercised. ``exotic=False`` keeps every enum documented.
    """
    if n < 0:
        msg = "n must be >= 0"
        raise ValueError(msg)
    begin = DEFAULT_START if start is None else start
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=timezone.utc)
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    ctx = _Context(
        customer_id=customer_id,
        p_exotic=_P_EXOTIC if exotic else 0.0,
        phone_offset=rng.randrange(_PHONE_SPAN),
        timeline=_Timeline(created_ms=int(begin.timestamp() * 1000)),
    )
    # Millions of fresh dicts make the cyclic GC rescan the heap over and
    # over; none of them can form a cycle, so pausing it is safe and ~20% faster.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        leads = [_lead(rng, i, ctx) for i in range(n)]
        _add_later_custom_fields(leads, random.Random(f"leadgen-custom-fields-{seed}"))  # noqa: S311
        return leads
    finally:
        if was_enabled:
            gc.enable()


def _add_later_custom_fields(leads: list[dict[str, Any]], rng: random.Random) -> None:
    """Add the custom fields added to the generator later, from their own stream.

    Their own random stream, so every other value of every lead stays what it
    was for the same seed. ``bedrooms`` mixes integers and text;
    ``preferred_contact`` is created when 90% of the leads were last updated, so
    only leads updated after that can carry it: a sample of the most recently
    updated leads finds it, the others never have it.
    """
    if not leads:
        return
    # Timestamps share one format, so comparing the strings compares instants.
    updated = sorted(lead["updated_at"] for lead in leads)
    created = updated[int(len(leads) * _PREFERRED_CONTACT_CREATED_AT)]
    rnd = rng.random
    for lead in leads:
        cf = lead["custom_fields"]
        if rnd() < _P_BEDROOMS:
            r = rnd()
            if r < _P_BEDROOM_WORD:
                cf["bedrooms"] = _BEDROOM_WORDS[int(r / _P_BEDROOM_WORD * len(_BEDROOM_WORDS))]
            else:
                cf["bedrooms"] = 1 + int(rnd() * 5)
        if lead["updated_at"] >= created and rnd() < _P_PREFERRED_CONTACT:
            cf["preferred_contact"] = _CONTACT_PREFERENCES[int(rnd() * len(_CONTACT_PREFERENCES))]
