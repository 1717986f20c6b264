"""Custom fields whose columns never change type: remembered declarations, and variants.

A warehouse column's type is a contract no target will alter, so a slug keeps the
type it was first declared with (remembered in the state), whatever a later sample
or catalog says. A value that does not fit goes to `<slug>__v_<kind>`, declared
when first needed, as dlt does with variant columns; a slug never seen before is
declared from its first value. The stream sends a new SCHEMA for each change.
"""

from __future__ import annotations

import typing as t

from tap_mega.streams.schema import EXPLICIT_TYPES

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: A variant's suffix by the kind of value it holds, and the type it is declared with.
VARIANT_TYPES = {"text": "string", "number": "number", "boolean": "boolean"}
#: A declaration's JSON types (less null) to its type name; anything else is "any".
_TYPE_NAMES = {
    **{frozenset(spec["type"]) - {"null"}: name for name, spec in EXPLICIT_TYPES.items()},
    frozenset({"integer", "number"}): "number",  # a catalog's spelling of any number
}


def value_kind(value: object) -> str | None:
    """The variant kind of a non-null scalar (None for null; an object or array is text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else "text"


def fits(value: object, type_name: str) -> bool:
    """Whether a target loading a column of `type_name` takes `value` as it is."""
    kind = value_kind(value)
    if kind is None or type_name == "any":
        return True
    if type_name == "integer":
        return isinstance(value, int) and kind == "number"  # 5.0 is a number, not an integer
    return VARIANT_TYPES[kind] == type_name


def variant_origin(slug: str) -> str:
    """The slug whose values a variant holds (`budget` for `budget__v_text`), else `slug`."""
    origin, separator, kind = slug.rpartition("__v_")
    return origin if separator and origin and kind in VARIANT_TYPES else slug


def type_name_of(declaration: object) -> str:
    """The type name of a property's JSON Schema, as a catalog may spell it."""
    kinds = declaration.get("type") if isinstance(declaration, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(kinds, list):
        return "any"
    return _TYPE_NAMES.get(frozenset(kinds) - {"null"}, "any")


class Declarations:
    """Each custom field's type for this sync, in the order declared."""

    def __init__(
        self, types: dict[str, str], selected: Callable[[str], bool] | None = None
    ) -> None:
        """`types`: slug to type name (a key of `EXPLICIT_TYPES`); `selected`: by the catalog.

        A deselected slug keeps its remembered type but is never declared, nor are its
        variants: its values are the SDK's to drop, as for any deselected property.
        """
        self.types = types
        self.selected = selected

    @classmethod
    def start(
        cls,
        declared: Mapping[str, object],
        remembered: object,
        mask: Mapping[tuple[str, ...], bool] | None = None,
    ) -> tuple[Declarations, list[str]]:
        """The catalog's or sample's `declared` properties, overruled by the state's types.

        `mask`: the catalog's selection (the SDK's SelectionMask). Returns the lines
        telling where a remembered type overrules a new one.
        """
        kept = {
            str(slug): name
            for slug, name in (remembered.items() if isinstance(remembered, dict) else ())
            if name in EXPLICIT_TYPES
        }
        types = dict(kept)
        lines = []
        for slug, declaration in declared.items():
            name = type_name_of(declaration)
            if slug in kept and kept[slug] != name:
                lines.append(
                    f"Custom field `{slug}` stays {kept[slug]}, as earlier runs declared it "
                    f"(this time it looks {name}): a value that does not fit goes to its "
                    "`__v_` variant, so no column changes type."
                )
            types.setdefault(slug, name)
        if mask is None:
            return cls(types), lines
        return cls(
            types, lambda slug: mask[("properties", "custom_fields", "properties", slug)]
        ), lines

    def declares(self, slug: str) -> bool:
        """Whether `slug` goes in the schema: not when it, or its variant's slug, is deselected."""
        return self.selected is None or self.selected(variant_origin(slug))

    def properties(self) -> dict[str, dict[str, t.Any]]:
        """The `custom_fields` properties to declare: each selected slug with its type."""
        return {
            slug: dict(EXPLICIT_TYPES[name])
            for slug, name in self.types.items()
            if self.declares(slug)
        }

    def fit(self, lead: dict[str, t.Any]) -> list[str]:
        """Make every custom field of `lead` fit its declaration; a line for each new one.

        A value of another type moves to its variant and leaves null behind: nothing
        is lost, and the typed column is never asked to hold it.
        """
        fields = lead.get("custom_fields")
        new: list[str] = []
        for slug, value in list(fields.items()) if isinstance(fields, dict) else ():
            kind = value_kind(value)
            name = self.types.get(slug)
            if kind is None or not self.declares(slug) or (name is not None and fits(value, name)):
                continue  # a null fits any column; an undeclared one waits for a value
            target = slug if name is None else f"{slug}__v_{kind}"
            if target not in self.types:
                self.types[target] = VARIANT_TYPES[kind]
                new.append(
                    f"Declared custom field `{target}` ({VARIANT_TYPES[kind]}), first needed by "
                    f"lead {lead.get('id')}: a new SCHEMA goes out before its RECORD."
                )
            if name is not None:
                fields[slug], fields[target] = None, value  # type: ignore[index]
        return new
