"""Which records the SDK's type conformance would leave exactly as they are.

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

# A property's rule: the shape of an object, or one of these markers.
PLAIN = "plain"  # a primitive the SDK leaves alone unless it is a NaN float
BOOLEAN = "boolean"  # the SDK rewrites anything but a bool or null
ARRAY = "array"  # walked item by item by the SDK: left to it


@dataclass(frozen=True)
class Shape:
    """An object's known properties and their rules.

    The SDK walks an object's known properties; unknown ones are kept as they
    are when the schema allows additional properties, else dropped.
    """

    rules: dict[str, t.Any]
    open: bool


def compile_shape(schema: dict[str, t.Any]) -> Shape:
    """Rules for a schema's properties, as the SDK's conformance reads them."""
    rules = {name: _rule(sub) for name, sub in schema.get("properties", {}).items()}
    return Shape(rules, open=bool(schema.get("additionalProperties")))


def _rule(schema: dict[str, t.Any]) -> t.Any:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "object" in types and "properties" in schema:
        return compile_shape(schema)
    if set(types) in ({"boolean"}, {"boolean", "null"}):
        return BOOLEAN
    return ARRAY if "array" in types else PLAIN


def is_conformant(record: dict[str, t.Any], shape: Shape) -> bool:
    """True when the SDK's recursive conformance would return `record` unchanged."""
    rules = shape.rules
    for key, value in record.items():
        rule = rules.get(key)
        if rule is None:
            if shape.open:
                continue  # an additional property: kept as it is
            return False  # an unknown property: dropped by the SDK
        if value is not None and not _value_conforms(value, rule):
            return False
    return True


def _value_conforms(value: t.Any, rule: t.Any) -> bool:
    """One known property's value, as `_conform_record_data_types` treats it."""
    kind = type(value)
    if rule is ARRAY:
        return False
    if rule is BOOLEAN:
        return kind is bool
    if kind is float:
        return math.isfinite(value)
    if kind is dict and isinstance(rule, Shape):
        return is_conformant(value, rule)
    return True
