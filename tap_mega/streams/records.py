"""The record fast path's test: which records the SDK's walk would leave exactly as they are.

The SDK walks every record against the schema to drop unknown properties, turn
non-booleans in boolean fields into booleans and NaN into null. A lead decoded
from MEGA's JSON that has none of those needs none of it; checking that is a
few dictionary look-ups, a tenth of the walk. Any record that fails the check
takes the SDK's own path, so what is written never differs.
"""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass

from singer_sdk.mapper import SameRecordTransform

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from singer_sdk.mapper import StreamMap


@dataclass(frozen=True)
class Shape:
    """An object's known properties, grouped by what the SDK does to them.

    The SDK walks an object's known properties; unknown ones are kept as they
    are when the schema allows additional properties, else dropped.
    """

    known: frozenset[str]
    open: bool
    booleans: tuple[str, ...]
    arrays: tuple[str, ...]
    objects: tuple[tuple[str, Shape], ...]
    #: Only plain-valued properties: checked in line, without recursing.
    flat: bool


def compile_shape(schema: dict[str, t.Any]) -> Shape:
    """Group a schema's properties as the SDK's conformance treats them."""
    properties: dict[str, dict[str, t.Any]] = schema.get("properties", {})
    booleans, arrays, objects = [], [], []
    for name, sub in properties.items():
        types = sub.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        if "object" in types and "properties" in sub:
            objects.append((name, compile_shape(sub)))
        elif set(types) in ({"boolean"}, {"boolean", "null"}):
            booleans.append(name)
        elif "array" in types:
            arrays.append(name)
    # An object with no known properties and additionalProperties keeps anything.
    objects = [(name, sub) for name, sub in objects if sub.known or not sub.open]
    return Shape(
        known=frozenset(properties),
        open=bool(schema.get("additionalProperties")),
        booleans=tuple(booleans),
        arrays=tuple(arrays),
        objects=tuple(objects),
        flat=not (booleans or arrays or objects),
    )


def is_conformant(record: dict[str, t.Any], shape: Shape) -> bool:
    """True when the SDK's recursive conformance would return `record` unchanged.

    Set and membership tests run in C; the Python-level work is a handful of
    look-ups per record.
    """
    if not shape.open and not record.keys() <= shape.known:
        return False  # an unknown property: dropped by the SDK
    get = record.get
    if shape.arrays and any(get(name) is not None for name in shape.arrays):
        return False  # arrays are walked item by item: left to the SDK
    for name in shape.booleans:
        value = get(name)
        if value is not None and type(value) is not bool:
            return False  # the SDK turns it into a boolean
    return nested_objects_conformant(record, shape) and floats_conformant(record, shape)


def nested_objects_conformant(record: dict[str, t.Any], shape: Shape) -> bool:
    """The object-valued properties; flat ones in line, as the recursion costs more.

    A float inside a flat nested object sends the record the SDK's way, finite
    or not: rare enough not to be worth telling apart.
    """
    for name, sub in shape.objects:
        value = record.get(name)
        if type(value) is not dict:
            continue
        if not sub.flat:
            if not is_conformant(value, sub):
                return False
        elif not (sub.open or value.keys() <= sub.known) or float in map(
            type, value.values()
        ):
            return False
    return True


def floats_conformant(record: dict[str, t.Any], shape: Shape) -> bool:
    """No NaN or infinity in a known property: the SDK would write it as null."""
    if float not in map(type, record.values()):
        return True
    return all(
        math.isfinite(value)
        for key, value in record.items()
        if type(value) is float and key in shape.known
    )


def is_plain(stream_maps: Sequence[StreamMap], mask: Mapping[t.Any, bool], name: str) -> bool:
    """Every field selected and no stream map: a stream's records go out as they are.

    Only then may a conformant record skip the SDK's selection, conformance and
    mapping (see `LeadsStream._write_record_message`).
    """
    return (
        all(mask.values())
        and len(stream_maps) == 1
        and isinstance(stream_maps[0], SameRecordTransform)
        and not stream_maps[0].flattening_enabled
        and stream_maps[0].stream_alias == name
    )
