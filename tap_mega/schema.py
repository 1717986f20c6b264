"""The lead's JSON Schema, built from MEGA's documented object shapes.

Its own module because the stream, the Airbyte catalog and the record fast path
(which compiles it, see records.py) all read it, and a new field is added here alone.
"""

from __future__ import annotations

from singer_sdk import typing as th

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
CUSTOM_FIELD_VALUE = th.CustomType(
    {"type": ["string", "number", "boolean", "null"]},
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
        th.ObjectType(additional_properties=CUSTOM_FIELD_VALUE),
        nullable=True,
        description="Custom-field slug to scalar value; `lead_line` is reserved.",
    ),
).to_dict()
