"""The lead's JSON Schema: MEGA's documented object, and the custom fields of this customer.

Its own module because the stream and the Airbyte catalog both read it. Custom
fields are declared from discovery's sample or the `custom_fields_schema` setting.
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

#: Any scalar MEGA allows in a custom field; also a slug seen with several types.
#: With "string" among the types, SQL targets make a text column every value fits.
ANY_SCALAR: dict[str, t.Any] = {"type": ["string", "number", "boolean", "null"]}
#: The values of `custom_fields_schema`, each with its declaration.
EXPLICIT_TYPES: dict[str, dict[str, t.Any]] = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "any": ANY_SCALAR,
}
#: A decoded JSON value's type by its Python type (a bool is not an integer here);
#: an object or array, which MEGA documents as never happening, is "any".
JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string"}
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
        th.ObjectType(additional_properties=th.CustomType(ANY_SCALAR)),
        nullable=True,
        description="Custom-field slug to scalar value; `lead_line` is reserved.",
    ),
).to_dict()


def declared_type(types: set[str]) -> dict[str, t.Any]:
    """One slug's declaration from the JSON types of its values, always nullable.

    Integers with decimals are `number`; only null, or several kinds, is `ANY_SCALAR`.
    """
    kinds = types - {"null"}
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    return EXPLICIT_TYPES[kinds.pop()] if len(kinds) == 1 else ANY_SCALAR


def sampled_custom_fields(leads: Iterable[Mapping[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """Declare every slug the sampled leads carry, in the order first seen."""
    seen: dict[str, set[str]] = {}
    for lead in leads:
        fields = lead.get("custom_fields")
        for slug, value in fields.items() if isinstance(fields, dict) else ():
            seen.setdefault(str(slug), set()).add(JSON_TYPES.get(type(value), "any"))
    return {slug: declared_type(types) for slug, types in seen.items()}


def explicit_custom_fields(setting: dict[str, str]) -> dict[str, dict[str, t.Any]]:
    """The `custom_fields_schema` setting as declarations, refusing those no lead can satisfy.

    The settings schema (the gate, cli/checks.py) has checked the shape and the type names.
    """
    for slug, kind in setting.items():
        if not slug.strip():  # no field, and a `custom_fields__` column
            problem = "has a blank slug: each key is a custom field's slug"
        elif slug == "lead_line" and kind not in {"string", "any"}:
            # A target would refuse every lead with one (mega-api.md, "Lead").
            problem = (
                f"gives {slug!r} the type {kind!r}, but MEGA's reserved `{slug}` is `buyer` "
                "or `seller`: declare it string (or leave it out)"
            )
        else:
            continue
        raise SettingsError([f"setting `custom_fields_schema` {problem}"])
    return {slug: EXPLICIT_TYPES[kind] for slug, kind in setting.items()}


def lead_schema(custom_fields: Mapping[str, dict[str, t.Any]]) -> dict[str, t.Any]:
    """The lead's schema with `custom_fields` declaring these slugs.

    `additionalProperties` stays: a slug created after discovery still arrives.
    """
    schema = copy.deepcopy(LEAD_SCHEMA)
    if custom_fields:
        schema["properties"]["custom_fields"]["properties"] = copy.deepcopy(dict(custom_fields))
    return schema
