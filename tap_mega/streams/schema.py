"""The lead's JSON Schema, built from MEGA's documented object shapes and its custom fields.

Its own module because the stream and the Airbyte catalog both read it, and a new
field is added here alone. Custom fields are per customer, so their declarations
are built here, purely, from what discovery's sample saw (`sampled_custom_fields`)
or from the `custom_fields_schema` setting (`explicit_custom_fields`); the stream
decides which and sends the sample request (leads.py).
"""

from __future__ import annotations

import copy
import typing as t

from singer_sdk import typing as th

from tap_mega.errors import SettingsError

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Discovery's one request: the 100 most recently updated leads, with custom fields.
#: No filters: the catalog describes the account, whatever a sync filters on.
SAMPLE_PARAMS: dict[str, t.Any] = {
    "sort_by": "updated_at",
    "sort_dir": "desc",
    "limit": 100,
    "include_custom_fields": "true",
}

# Enumerated values are documented lists, not promises: plain strings, no `enum`.
STAGE = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("slug", th.StringType),
    th.Property("name", th.StringType),
    th.Property("color", th.StringType, nullable=True),
)
OWNER = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("name", th.StringType),
    th.Property("role_name", th.StringType, nullable=True),
)
#: Any scalar MEGA allows in a custom field. Also the declaration of a slug seen
#: with more than one type: every value validates, and since "string" is among
#: the types, SQL targets make a text column (target-postgres: `text`, the value's
#: JSON text, such as `3`, `1.5`, `true` or `gold`), never a column some value
#: cannot be cast to (`numeric` with `true` fails).
ANY_SCALAR: dict[str, t.Any] = {"type": ["string", "number", "boolean", "null"]}
CUSTOM_FIELD_VALUE = th.CustomType(ANY_SCALAR)
#: The values of `custom_fields_schema`, each with its declaration.
EXPLICIT_TYPES: dict[str, dict[str, t.Any]] = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "any": ANY_SCALAR,
}
LEAD_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("customer_id", th.StringType, required=True),
    th.Property("contact_name", th.StringType, nullable=True),
    th.Property("contact_phone", th.StringType, nullable=True),
    th.Property("contact_email", th.StringType, nullable=True),
    th.Property("source_platform", th.StringType, required=True),
    th.Property("source_type", th.StringType, required=True),
    th.Property("status", th.StringType, required=True),
    th.Property("score", th.IntegerType, nullable=True),
    th.Property("qualified", th.BooleanType, nullable=True),
    th.Property("current_stage", STAGE, nullable=True),
    th.Property("owner", OWNER, nullable=True),
    th.Property("last_interaction_at", th.DateTimeType, nullable=True),
    th.Property("interaction_count", th.IntegerType),
    th.Property("created_at", th.DateTimeType, required=True),
    th.Property("updated_at", th.DateTimeType, required=True),
    th.Property(
        "custom_fields",
        th.ObjectType(additional_properties=CUSTOM_FIELD_VALUE),
        nullable=True,
        description="Custom-field slug to scalar value; `lead_line` is reserved.",
    ),
).to_dict()


def json_type(value: object) -> str:
    """The JSON type of a decoded value (a bool is not an integer here)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def declared_type(types: set[str]) -> dict[str, t.Any]:
    """One slug's declaration from the JSON types its values had, always nullable.

    Integers alone stay `integer`; with decimals, `number`. A slug seen only as
    null, or with more than one kind of value, gets `ANY_SCALAR`; so does one
    holding an object or array, which MEGA documents as never happening (the
    schema allowed only scalars before custom fields were declared, too).
    """
    kinds = types - {"null"}
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if len(kinds) == 1:
        (kind,) = kinds
        if kind in EXPLICIT_TYPES:
            return copy.deepcopy(EXPLICIT_TYPES[kind])
    return copy.deepcopy(ANY_SCALAR)


def sampled_custom_fields(leads: Iterable[Mapping[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """Declare every slug the sampled leads carry, in the order first seen.

    A lead without a `custom_fields` object (or with `null`) contributes nothing.
    """
    seen: dict[str, set[str]] = {}
    for lead in leads:
        fields = lead.get("custom_fields")
        if isinstance(fields, dict):
            for slug, value in fields.items():
                seen.setdefault(str(slug), set()).add(json_type(value))
    return {slug: declared_type(types) for slug, types in seen.items()}


def explicit_custom_fields(setting: object) -> dict[str, dict[str, t.Any]]:
    """The `custom_fields_schema` setting (slug to type name) as declarations.

    Checked here too, not only with the other settings: the SDK's `--discover`
    builds the catalog without validating the settings first.
    """
    if not isinstance(setting, dict):
        msg = f"setting `custom_fields_schema` must map slugs to types, got {setting!r}"
        raise SettingsError([msg])
    for slug, kind in setting.items():
        if kind not in EXPLICIT_TYPES:
            msg = (
                f"setting `custom_fields_schema` gives {slug!r} the type {kind!r}: "
                f"use one of {', '.join(EXPLICIT_TYPES)}"
            )
            raise SettingsError([msg])
        if (problem := explicit_slug_problem(slug, kind)) is not None:
            raise SettingsError([f"setting `custom_fields_schema` {problem}"])
    return {slug: copy.deepcopy(EXPLICIT_TYPES[kind]) for slug, kind in setting.items()}


#: MEGA's reserved slug: always `buyer` or `seller` (mega-api.md, "Lead").
RESERVED_TEXT_SLUG = "lead_line"


def explicit_slug_problem(slug: str, kind: str) -> str | None:
    """A declaration no lead can satisfy; None when it is fine.

    A blank slug names no field (and makes a `custom_fields__` column); a
    `lead_line` declared other than text makes a target refuse every lead that
    has one, since MEGA's value is `buyer` or `seller`.
    """
    if not slug.strip():
        return "has a blank slug: each key is a custom field's slug"
    if slug == RESERVED_TEXT_SLUG and kind not in {"string", "any"}:
        return (
            f"gives {slug!r} the type {kind!r}, but MEGA's reserved `{slug}` is `buyer` "
            "or `seller`: declare it string (or leave it out)"
        )
    return None


def lead_schema(custom_fields: Mapping[str, dict[str, t.Any]]) -> dict[str, t.Any]:
    """The lead's schema with `custom_fields` declaring these slugs.

    `additionalProperties` stays: a slug created after discovery still arrives in
    `custom_fields` (as JSON in the target; a column only after a new discovery).
    """
    schema = copy.deepcopy(LEAD_SCHEMA)
    if custom_fields:
        schema["properties"]["custom_fields"]["properties"] = copy.deepcopy(dict(custom_fields))
    return schema
