"""Custom fields that appear or change type, run after run: what a target is told.

A column's type is the warehouse's contract. What a user sees: each SCHEMA's
declarations, which RECORD follows which SCHEMA, where a value that no longer fits
went (`<slug>__v_<kind>`), the WARNING when a remembered type overrules a new one,
and the state's `custom_fields`. Runs go as Meltano makes them: `--discover`
without state, then a sync with that catalog and the state.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import typing as t

import jsonschema
import pytest
from singer_sdk.singerlib.catalog import SelectionMask

from tap_mega.streams.fields import Declarations, fits, type_name_of, value_kind
from tap_mega.streams.schema import ANY_SCALAR, EXPLICIT_TYPES
from tap_mega.testing.emulator import MegaEmulator
from tests.helpers.cli import CliResult, run_main
from tests.helpers.sync import bookmark, full_table_catalog, run_sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

FLATTENED = {"flattening_enabled": True, "flattening_max_depth": 1}  # meltano.yml's `columns`
PREFIX = "custom_fields__"
WARNING = "Custom field `budget` stays number, as earlier runs declared it"


# -- what a validating target checks ------------------------------------------ #
def custom_declarations(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """The custom fields a SCHEMA declares, by slug, nested or flattened."""
    properties = schema["properties"]
    if isinstance(properties.get("custom_fields"), dict):
        return dict(properties["custom_fields"].get("properties", {}))
    return {k.removeprefix(PREFIX): v for k, v in properties.items() if k.startswith(PREFIX)}


def custom_values(record: dict[str, t.Any]) -> dict[str, t.Any]:
    """The custom fields a RECORD carries, by slug, nested or flattened."""
    if isinstance(record.get("custom_fields"), dict):
        return dict(record["custom_fields"])
    return {k.removeprefix(PREFIX): v for k, v in record.items() if k.startswith(PREFIX)}


def undeclared(record: dict[str, t.Any], schema: dict[str, t.Any]) -> list[str]:
    """Values a target that keeps only declared columns would drop."""
    properties = schema["properties"]
    top = [k for k, v in record.items() if v is not None and k not in properties]
    nested = record.get("custom_fields")
    declared = custom_declarations(schema)
    inner = [k for k, v in (nested or {}).items() if v is not None and k not in declared]
    return top + [f"custom_fields.{k}" for k in inner]


def assert_records_fit_their_schemas(messages: list[dict[str, t.Any]]) -> None:
    """Every RECORD validates (Draft 7) against the latest SCHEMA of its stream, declared."""
    latest: dict[str, tuple[dict[str, t.Any], jsonschema.Draft7Validator]] = {}
    for index, message in enumerate(messages):
        if message["type"] == "SCHEMA":
            schema = message["schema"]
            jsonschema.Draft7Validator.check_schema(schema)
            checker = jsonschema.Draft7Validator.FORMAT_CHECKER
            latest[message["stream"]] = (
                schema,
                jsonschema.Draft7Validator(schema, format_checker=checker),
            )
        elif message["type"] == "RECORD":
            assert message["stream"] in latest, f"message {index}: a RECORD before any SCHEMA"
            schema, validator = latest[message["stream"]]
            record = message["record"]
            errors = [error.message for error in validator.iter_errors(record)]
            assert not errors, f"message {index} (lead {record.get('id')}): {errors}"
            missing = undeclared(record, schema)
            assert not missing, f"message {index} (lead {record.get('id')}): {missing} undeclared"


def as_in_mega(values: dict[str, t.Any], declared: dict[str, t.Any]) -> dict[str, t.Any]:
    """A RECORD's custom fields with each variant's value back under its slug."""
    merged = dict(values)
    for key, value in values.items():
        slug, _, _kind = key.rpartition("__v_")
        if slug and slug in declared and value is not None:
            del merged[key]
            assert merged[slug] is None, f"{slug} holds a value beside its variant {key}"
            merged[slug] = value
    return merged


def assert_nothing_lost(run: CliResult, emulator: MegaEmulator) -> None:
    """Every lead's custom fields arrive, each value typed or in its variant."""
    declared = custom_declarations(run.result.schemas[-1]["schema"])
    mega = {lead["id"]: lead["custom_fields"] for lead in emulator.leads}
    assert run.result.records
    for record in run.result.records:
        assert as_in_mega(custom_values(record), declared) == mega[record["id"]]


def first_carrying(messages: list[dict[str, t.Any]], slug: str) -> tuple[int, int]:
    """Where the first SCHEMA declaring `slug`, and the first RECORD carrying it, are."""
    schema = next(
        i
        for i, m in enumerate(messages)
        if m["type"] == "SCHEMA" and slug in custom_declarations(m["schema"])
    )
    record = next(
        i
        for i, m in enumerate(messages)
        if m["type"] == "RECORD" and custom_values(m["record"]).get(slug) is not None
    )
    return schema, record


# -- runs as a user makes them ------------------------------------------------ #
def discovering(emulator: MegaEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings without `custom_fields_schema`, the reconcile on: a user's defaults."""
    config = tap_config(emulator, reconcile_deletes=True)
    del config["custom_fields_schema"]
    return {**config, **overrides}


def discover(config: dict[str, t.Any], tmp_path: Path) -> dict[str, t.Any]:
    """`tap-mega --discover`, as Meltano runs it before each run: no state."""
    run = run_main(config, tmp_path, "--discover")
    assert run.returncode == 0, run.stderr
    return t.cast("dict[str, t.Any]", json.loads(run.stdout))


def sync(
    config: dict[str, t.Any],
    tmp_path: Path,
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
) -> CliResult:
    """`tap-mega --config ... [--catalog ...] [--state ...]`, exit 0, every RECORD fitting."""
    args: tuple[str, ...] = ()
    if catalog is not None:
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        args = ("--catalog", str(tmp_path / "catalog.json"))
    run = run_main(config, tmp_path, *args, state=state)
    assert run.returncode == 0, run.stderr
    assert_records_fit_their_schemas(run.result.messages)
    return run


def meltano_run(
    config: dict[str, t.Any], tmp_path: Path, state: dict[str, t.Any] | None = None
) -> CliResult:
    """`meltano run tap-mega ...`: discovery without the state, then the sync with both."""
    return sync(config, tmp_path, state, discover(config, tmp_path))


def set_budgets(emulator: MegaEmulator, value: object, count: int, skip: int = 0) -> list[str]:
    """Give `count` leads holding a budget (after `skip` of them) a new one, in one update."""
    ids = [lead["id"] for lead in emulator.leads if lead["custom_fields"].get("budget")]
    return emulator.update_leads(ids=ids[skip : skip + count], custom_fields={"budget": value})


@pytest.fixture
def small_emulator() -> t.Iterator[MegaEmulator]:
    """60 leads: discovery's sample sees every one."""
    with MegaEmulator(n_leads=60, seed=11, rate_windows=[]) as emulator:
        yield emulator


@pytest.fixture
def budget_number(small_emulator: MegaEmulator) -> MegaEmulator:
    """Budgets in whole numbers and one with decimals: discovery declares `number`."""
    set_budgets(small_emulator, 412_500.5, 1)
    return small_emulator


# -- the checker itself ------------------------------------------------------- #
NESTED = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "custom_fields": {
            "type": ["object", "null"],
            "properties": {"budget": EXPLICIT_TYPES["number"]},
            "additionalProperties": ANY_SCALAR,
        },
    },
}
FLAT = {
    "type": "object",
    "properties": {"id": {"type": "string"}, f"{PREFIX}budget": EXPLICIT_TYPES["number"]},
}


def schema_message(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "SCHEMA", "stream": "leads", "schema": schema, "key_properties": ["id"]}


def record_message(record: dict[str, t.Any], stream: str = "leads") -> dict[str, t.Any]:
    return {"type": "RECORD", "stream": stream, "record": record}


@pytest.mark.parametrize(
    ("messages", "says"),
    [
        ([record_message({"id": "L1"})], "before any SCHEMA"),
        ([schema_message(NESTED), record_message({"id": "L1"}, "other")], "before any SCHEMA"),
        ([schema_message(NESTED), record_message({"id": 1})], "is not of type 'string'"),
        (
            [
                schema_message(NESTED),
                record_message({"id": "L1", "custom_fields": {"budget": "x"}}),
            ],
            "is not of type",
        ),
        (
            [schema_message(NESTED), record_message({"id": "L", "custom_fields": {"new": "x"}})],
            "['custom_fields.new'] undeclared",
        ),
        ([schema_message(FLAT), record_message({"id": "L1", f"{PREFIX}new": 3})], "undeclared"),
    ],
    ids=["no-schema", "other-stream", "top-level", "custom-field", "nested-new", "flat-new"],
)
def test_the_checker_refuses_what_a_target_would(
    messages: list[dict[str, t.Any]], says: str
) -> None:
    with pytest.raises(AssertionError, match=re.escape(says)):
        assert_records_fit_their_schemas(messages)


def test_the_checker_takes_the_latest_schema_and_nulls() -> None:
    messages = [
        schema_message(FLAT),
        record_message({"id": "L1", f"{PREFIX}budget": 5.5, f"{PREFIX}new": None}),
        schema_message(NESTED),
        record_message({"id": "L2", "custom_fields": {"budget": None, "new": None}}),
    ]

    assert_records_fit_their_schemas(messages)


# -- fields.py, pure ---------------------------------------------------------- #
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, None),
        (True, "boolean"),
        (False, "boolean"),
        (0, "number"),
        (5.5, "number"),
        ("5", "text"),
        ("", "text"),
        ({"a": 1}, "text"),  # MEGA documents scalars only
        ([1], "text"),
    ],
)
def test_value_kind(value: object, kind: str | None) -> None:
    assert value_kind(value) == kind


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        (5, "integer", True),
        (5.0, "integer", False),  # a float is never an integer column's, even whole
        (5.5, "integer", False),
        (True, "integer", False),  # a bool is not a number
        (5, "number", True),
        (5.5, "number", True),
        (True, "number", False),
        (1, "boolean", False),
        (False, "boolean", True),
        ("yes", "boolean", False),
        ("450k", "number", False),
        ("450k", "string", True),
        (5, "string", False),
        (None, "integer", True),
        (None, "boolean", True),
        ("x", "any", True),
        (5.5, "any", True),
        (False, "any", True),
    ],
)
def test_fits(value: object, type_name: str, expected: bool) -> None:
    assert fits(value, type_name) is expected


@pytest.mark.parametrize(
    ("declaration", "name"),
    [(spec, name) for name, spec in EXPLICIT_TYPES.items()]
    + [
        ({"type": "number"}, "number"),  # not nullable, as a user's catalog may say
        ({"type": ["null", "integer"]}, "integer"),
        ({"type": ["integer", "number", "null"]}, "number"),  # any number: a numeric column
        ({"type": ["string", "null"], "maxLength": 9}, "string"),
        ({}, "any"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "any"),
        ({"type": 7}, "any"),
        ("number", "any"),
        (None, "any"),
    ],
)
def test_type_name_of(declaration: object, name: str) -> None:
    assert type_name_of(declaration) == name


def test_remembered_types_overrule_the_catalog_with_a_line_each() -> None:
    declared = {"budget": EXPLICIT_TYPES["string"], "vip": ANY_SCALAR, "tier": {"type": "integer"}}
    remembered = {"budget": "number", "vip": "any", "gone": "boolean", "budget__v_text": "string"}

    declarations, lines = Declarations.start(declared, remembered)

    assert declarations.types == {
        "budget": "number",
        "vip": "any",
        "gone": "boolean",  # no longer sampled, still declared: its column stays
        "budget__v_text": "string",
        "tier": "integer",
    }
    [line] = lines
    assert "`budget` stays number" in line
    assert "looks string" in line
    assert declarations.properties()["budget"] == EXPLICIT_TYPES["number"]


@pytest.mark.parametrize(
    "remembered",
    [None, "budget", ["budget"], {"budget": "money"}, {"budget": 3}, {"budget": None}],
)
def test_a_state_with_junk_for_types_is_ignored(remembered: object) -> None:
    declarations, lines = Declarations.start({"budget": EXPLICIT_TYPES["integer"]}, remembered)

    assert declarations.types == {"budget": "integer"}
    assert lines == []


def test_a_junk_entry_is_dropped_and_the_good_ones_kept() -> None:
    declarations, _ = Declarations.start({}, {"budget": "money", "vip": "boolean", 7: "string"})

    assert declarations.types == {"vip": "boolean", "7": "string"}


def test_fit_declares_a_new_slug_from_its_first_value() -> None:
    declarations = Declarations({"budget": "integer"})
    first = {"id": "L1", "custom_fields": {"referral": "open house", "floor": None}}
    second = {"id": "L2", "custom_fields": {"referral": "web", "floor": 3}}

    new_first = declarations.fit(first)
    new_second = declarations.fit(second)

    assert first["custom_fields"] == {"referral": "open house", "floor": None}  # unchanged
    assert second["custom_fields"] == {"referral": "web", "floor": 3}
    assert declarations.types == {"budget": "integer", "referral": "string", "floor": "number"}
    [line] = new_first
    assert "`referral` (string)" in line
    assert "lead L1" in line
    [line] = new_second  # a null declares nothing; the first value does
    assert "`floor` (number)" in line


@pytest.mark.parametrize(
    ("declared", "value", "variant"),
    [
        ("integer", 5.0, "budget__v_number"),
        ("integer", 5.5, "budget__v_number"),
        ("integer", "450k", "budget__v_text"),
        ("integer", True, "budget__v_boolean"),
        ("number", False, "budget__v_boolean"),
        ("number", "450k", "budget__v_text"),
        ("boolean", 1, "budget__v_number"),
        ("boolean", "yes", "budget__v_text"),
        ("string", 450000, "budget__v_number"),
        ("string", True, "budget__v_boolean"),
    ],
)
def test_a_value_that_does_not_fit_moves_to_its_variant(
    declared: str, value: object, variant: str
) -> None:
    declarations = Declarations({"budget": declared})
    lead = {"id": "L1", "custom_fields": {"budget": value, "vip": None}}

    [line] = declarations.fit(lead)
    again = declarations.fit(other := {"id": "L2", "custom_fields": {"budget": value}})

    assert lead["custom_fields"] == {"budget": None, variant: value, "vip": None}
    assert other["custom_fields"] == {"budget": None, variant: value}
    assert again == []  # declared once
    assert f"`{variant}`" in line
    assert declarations.types["budget"] == declared
    kind = variant.rpartition("__v_")[2]
    assert declarations.types[variant] == {"text": "string"}.get(kind, kind)


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        ("integer", 5),
        ("number", 5),
        ("number", 5.5),
        ("boolean", False),
        ("string", "x"),
        ("any", "x"),
        ("any", 5.5),
        ("any", True),
        ("integer", None),
        ("boolean", None),
    ],
)
def test_a_value_that_fits_stays(declared: str, value: object) -> None:
    declarations = Declarations({"budget": declared})
    lead = {"id": "L1", "custom_fields": {"budget": value}}

    assert declarations.fit(lead) == []
    assert lead["custom_fields"] == {"budget": value}
    assert declarations.types == {"budget": declared}


@pytest.mark.parametrize("lead", [{"id": "L1"}, {"id": "L1", "custom_fields": None}])
def test_a_lead_without_custom_fields_is_left_alone(lead: dict[str, t.Any]) -> None:
    before = copy.deepcopy(lead)

    assert Declarations({"budget": "integer"}).fit(lead) == []
    assert lead == before


# -- remembered types win ----------------------------------------------------- #
def test_a_budget_turned_text_goes_to_its_variant_and_the_column_stays_number(
    budget_number: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering(budget_number)
    first = meltano_run(config, tmp_path)
    assert (
        custom_declarations(first.result.schemas[0]["schema"])["budget"]
        == (EXPLICIT_TYPES["number"])
    )
    texts = set_budgets(budget_number, "450k-500k", 3, skip=1)
    assert (
        type_name_of(
            custom_declarations(discover(config, tmp_path)["streams"][0]["schema"])["budget"]
        )
        == "any"
    )

    second = meltano_run(config, tmp_path, first.result.final_state)

    for schema in second.result.schemas:
        assert custom_declarations(schema["schema"])["budget"] == EXPLICIT_TYPES["number"]
    assert (
        custom_declarations(second.result.schemas[-1]["schema"])["budget__v_text"]
        == (EXPLICIT_TYPES["string"])
    )
    declared_at, carried_at = first_carrying(second.result.messages, "budget__v_text")
    assert declared_at < carried_at
    changed = {r["id"]: r["custom_fields"] for r in second.result.records if r["id"] in texts}
    assert set(changed) == set(texts)
    assert all(f["budget"] is None and f["budget__v_text"] == "450k-500k" for f in changed.values())
    assert_nothing_lost(second, budget_number)
    assert second.stderr.count(WARNING) == 1
    assert bookmark(second.result.final_state)["custom_fields"]["budget"] == "number"


@pytest.mark.parametrize("says", ["string", "integer", "any"])
def test_a_users_catalog_with_another_type_keeps_the_remembered_one(
    budget_number: MegaEmulator, tmp_path: Path, says: str
) -> None:
    config = discovering(budget_number)
    first = meltano_run(config, tmp_path)
    catalog = discover(config, tmp_path)
    catalog["streams"][0]["schema"]["properties"]["custom_fields"]["properties"]["budget"] = (
        EXPLICIT_TYPES[says]
    )
    set_budgets(budget_number, "450k-500k", 2, skip=1)
    set_budgets(budget_number, 7.25, 1, skip=3)

    second = sync(config, tmp_path, first.result.final_state, catalog)

    assert {
        custom_declarations(s["schema"])["budget"]["type"][0] for s in second.result.schemas
    } == {"number"}
    assert WARNING in second.stderr
    assert f"(this time it looks {says})" in second.stderr
    assert_nothing_lost(second, budget_number)


def test_a_changed_custom_fields_schema_warns_and_keeps_the_remembered_type(
    budget_number: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering(budget_number)
    first = meltano_run(config, tmp_path)
    set_budgets(budget_number, "450k-500k", 2, skip=1)

    second = sync(
        {**config, "custom_fields_schema": {"budget": "string"}}, tmp_path, first.result.final_state
    )

    [line] = [line for line in second.stderr.splitlines() if WARNING in line]
    assert "WARNING" in line
    assert "(this time it looks string)" in line
    latest = custom_declarations(second.result.schemas[-1]["schema"])
    assert latest["budget"] == EXPLICIT_TYPES["number"]
    assert latest["budget__v_text"] == EXPLICIT_TYPES["string"]
    assert_nothing_lost(second, budget_number)


# -- a new slug --------------------------------------------------------------- #
@pytest.mark.parametrize("flattening", [False, True], ids=["nested", "columns"])
@pytest.mark.parametrize("catalog", [False, True], ids=["no-catalog", "catalog"])
def test_a_slug_created_after_the_first_sync_is_declared_in_the_same_run(
    small_emulator: MegaEmulator, tmp_path: Path, catalog: bool, flattening: bool
) -> None:
    config = discovering(small_emulator, **(FLATTENED if flattening else {}))
    given = discover(config, tmp_path) if catalog else None
    first = sync(config, tmp_path, catalog=given)
    ids = [lead["id"] for lead in small_emulator.leads][:3]
    # Created in MEGA after discovery's sample, before the walk reads the leads.
    walk_starts = small_emulator.request_count + (1 if catalog else 2)
    small_emulator.on_request(
        walk_starts, lambda emu: emu.update_leads(ids=ids, custom_fields={"referral": "web"})
    )

    second = sync(config, tmp_path, first.result.final_state, given)

    messages = second.result.messages
    assert "referral" not in custom_declarations(second.result.schemas[0]["schema"])
    declared_at, carried_at = first_carrying(messages, "referral")
    assert declared_at < carried_at
    declaration = custom_declarations(messages[declared_at]["schema"])["referral"]
    assert declaration == EXPLICIT_TYPES["string"]
    if flattening:
        assert f"{PREFIX}referral" in messages[declared_at]["schema"]["properties"]
        assert "custom_fields" not in messages[carried_at]["record"]
    carried = [r for r in second.result.records if custom_values(r).get("referral")]
    assert {r["id"] for r in carried} == set(ids)
    assert "Declared custom field `referral` (string)" in second.stderr
    assert bookmark(second.result.final_state)["custom_fields"]["referral"] == "string"


# -- every RECORD fits the latest SCHEMA, in every mode ------------------------ #
def move_mega_on(emulator: MegaEmulator) -> None:
    """Types change, slugs appear (one null first, one with two kinds), leads go."""
    ids = [lead["id"] for lead in emulator.leads]
    set_budgets(emulator, "450k-500k", 3)
    set_budgets(emulator, True, 1, skip=3)
    set_budgets(emulator, 5.5, 1, skip=4)
    set_budgets(emulator, 5.0, 1, skip=5)
    set_budgets(emulator, None, 1, skip=6)
    emulator.update_leads(ids=ids[:2], custom_fields={"preapproved": "yes"})
    emulator.update_leads(ids=ids[2:3], custom_fields={"preapproved": 1, "price_per_sqft": 300})
    emulator.update_leads(ids=ids[3:5], custom_fields={"referral": "open house"})
    emulator.update_leads(ids=ids[5:6], custom_fields={"floor": None})
    emulator.update_leads(ids=ids[6:7], custom_fields={"floor": 3})
    emulator.update_leads(ids=ids[7:8], custom_fields={"floor": "ground"})
    emulator.delete_leads(ids=ids[-2:])  # the reconcile pass re-reads every lead


def users_catalog(config: dict[str, t.Any], tmp_path: Path) -> dict[str, t.Any]:
    """A catalog a user edited once and keeps: other types, a slug left out, one never seen."""
    catalog = discover(config, tmp_path)
    declared = catalog["streams"][0]["schema"]["properties"]["custom_fields"]["properties"]
    declared.update(budget={"type": ["string", "null"]}, preapproved={"type": "integer"})
    declared.update(legacy_score={"type": ["number", "null"]})
    del declared["notes"]
    return catalog


MODES: dict[str, dict[str, t.Any]] = {
    "no-catalog": {},
    "meltano": {},
    "users-catalog": {},
    "custom-fields-schema": {"custom_fields_schema": {"budget": "integer", "timeline": "string"}},
    "alias-and-map": {"stream_maps": {"leads": {"__alias__": "crm_leads", "ref": "'L-' + id"}}},
}


@pytest.mark.parametrize("flattening", [False, True], ids=["nested", "columns"])
@pytest.mark.parametrize("mode", list(MODES))
def test_every_record_fits_the_latest_schema_run_after_run(
    make_emulator: t.Callable[..., MegaEmulator], tmp_path: Path, mode: str, flattening: bool
) -> None:
    emulator = make_emulator(n_leads=80, seed=13)
    flat = FLATTENED if flattening else {}
    config = discovering(emulator, page_size=50, **MODES[mode], **flat)
    catalog = users_catalog(config, tmp_path) if mode == "users-catalog" else None

    def run(state: dict[str, t.Any] | None) -> CliResult:
        if mode in {"meltano", "alias-and-map"}:
            return meltano_run(config, tmp_path, state)
        return sync(config, tmp_path, state, catalog)  # checks every RECORD

    first = run(None)
    move_mega_on(emulator)
    second = run(first.result.final_state)
    third = run(second.result.final_state)

    assert_nothing_lost(second, emulator)
    assert len({r["id"] for r in second.result.records}) == len(emulator.leads)  # the pass
    declared = custom_declarations(second.result.schemas[-1]["schema"])
    # The user's catalog says budget is text: its numbers are the ones that move.
    budget = "budget__v_number" if mode == "users-catalog" else "budget__v_text"
    assert {"referral", "floor", "preapproved__v_text", budget} <= set(declared)
    # Sampled with both kinds, `floor` is any; declared from its first value, it is number.
    assert type_name_of(declared["floor"]) == "any" or "floor__v_text" in declared
    remembered = bookmark(second.result.final_state)["custom_fields"]
    assert {slug: type_name_of(spec) for slug, spec in declared.items()} == remembered
    assert bookmark(third.result.final_state)["custom_fields"] == remembered
    assert custom_declarations(third.result.schemas[0]["schema"]) == declared
    streams = {m["stream"] for m in second.result.messages if m["type"] in {"SCHEMA", "RECORD"}}
    assert streams == {"crm_leads" if mode == "alias-and-map" else "leads"}


# -- the state ---------------------------------------------------------------- #
def test_the_remembered_types_stay_small_and_are_kept_run_after_run(
    budget_number: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering(budget_number)
    ids = [lead["id"] for lead in budget_number.leads]
    state: dict[str, t.Any] | None = None
    seen: list[dict[str, str]] = []
    for run_number in range(4):
        if run_number:  # each run, MEGA has moved on: new fields, new kinds of value
            budget_number.update_leads(
                ids=ids[run_number : run_number + 2],
                custom_fields={f"field_{run_number}": run_number, "budget": f"{run_number}00k"},
            )
        state = meltano_run(config, tmp_path, state).result.final_state
        seen.append(bookmark(state)["custom_fields"])

    for earlier, later in itertools.pairwise(seen):
        assert later.items() >= earlier.items()  # nothing forgotten, no type changed
    assert seen[-1]["budget"] == "number"
    assert seen[-1]["budget__v_text"] == "string"
    assert {"field_1", "field_2", "field_3"} <= set(seen[-1])
    assert set(seen[-1].values()) <= set(EXPLICIT_TYPES)
    assert len(json.dumps(seen[-1])) < 1_000
    assert len(json.dumps(state)) < 10_000


def test_a_full_table_run_remembers_types_too(budget_number: MegaEmulator) -> None:
    config = discovering(budget_number)
    first = run_sync(config, catalog=full_table_catalog(config))
    assert bookmark(first.final_state)["custom_fields"]["budget"] == "number"
    texts = set_budgets(budget_number, "450k-500k", 2, skip=1)

    second = run_sync(config, state=first.final_state, catalog=full_table_catalog(config))

    assert_records_fit_their_schemas(second.messages)
    assert {custom_declarations(s["schema"])["budget"]["type"][0] for s in second.schemas} == {
        "number"
    }
    changed = [r["custom_fields"] for r in second.records if r["id"] in texts]
    assert [f["budget__v_text"] for f in changed] == ["450k-500k"] * 2
    assert "replication_key_value" not in bookmark(second.final_state)  # FULL_TABLE's own
    assert bookmark(second.final_state)["custom_fields"]["budget__v_text"] == "string"


@pytest.mark.parametrize("junk", [["budget"], "budget", {"budget": "money"}])
def test_a_sync_with_junk_remembered_types_declares_afresh(
    budget_number: MegaEmulator, tmp_path: Path, junk: object
) -> None:
    config = discovering(budget_number)
    first = meltano_run(config, tmp_path)
    state = copy.deepcopy(first.result.final_state)
    bookmark(state)["custom_fields"] = junk

    second = meltano_run(config, tmp_path, state)

    assert bookmark(second.result.final_state)["custom_fields"]["budget"] == "number"
    assert "stays" not in second.stderr


# -- selection ---------------------------------------------------------------- #
def deselect(catalog: dict[str, t.Any], *breadcrumbs: list[str]) -> dict[str, t.Any]:
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] in breadcrumbs:
            entry["metadata"]["selected"] = False
    return catalog


BUDGET = ["properties", "custom_fields", "properties", "budget"]


@pytest.mark.parametrize("flattening", [False, True], ids=["nested", "columns"])
def test_deselected_properties_stay_out_of_every_schema(
    budget_number: MegaEmulator, tmp_path: Path, flattening: bool
) -> None:
    # The SDK leaves a deselected property out of the SCHEMA, so no target makes its column.
    config = discovering(budget_number, **(FLATTENED if flattening else {}))
    phone = ["properties", "contact_phone"]
    catalog = deselect(discover(config, tmp_path), phone, BUDGET)
    first = sync(config, tmp_path, catalog=catalog)
    set_budgets(budget_number, "450k-500k", 2, skip=1)

    second = sync(config, tmp_path, first.result.final_state, catalog)

    for run in (first, second):
        for schema in run.result.schemas:
            assert "contact_phone" not in schema["schema"]["properties"]
            assert not {"budget", "budget__v_text"} & set(custom_declarations(schema["schema"]))
        for record in run.result.records:
            assert "contact_phone" not in record
            assert not {"budget", "budget__v_text"} & set(custom_values(record))


def test_a_deselected_field_remembered_earlier_stays_out(
    budget_number: MegaEmulator, tmp_path: Path
) -> None:
    config = discovering(budget_number)
    first = meltano_run(config, tmp_path)  # budget selected: remembered as number
    set_budgets(budget_number, "450k-500k", 2, skip=1)
    catalog = deselect(discover(config, tmp_path), BUDGET)

    second = sync(config, tmp_path, first.result.final_state, catalog)

    for schema in second.result.schemas:
        assert not {"budget", "budget__v_text"} & set(custom_declarations(schema["schema"]))
    assert not any(
        {"budget", "budget__v_text"} & set(r["custom_fields"]) for r in second.result.records
    )
    # Selected again later, it comes back as the type its column has.
    assert bookmark(second.result.final_state)["custom_fields"]["budget"] == "number"


# -- the README's worked example ---------------------------------------------- #
def test_the_readmes_worked_example(tmp_path: Path) -> None:
    # README.md, "When fields appear or change type", in the `columns` environment.
    with MegaEmulator(n_leads=2, seed=5, rate_windows=[]) as emulator:
        a, b = (lead["id"] for lead in emulator.leads)
        emulator.update_leads(ids=[a], custom_fields={"budget": 450_000})
        emulator.update_leads(ids=[b], custom_fields={"budget": 300_000})
        config = discovering(emulator, **FLATTENED)
        first = meltano_run(config, tmp_path)
        emulator.update_leads(ids=[b], custom_fields={"referral": "open house"})
        emulator.update_leads(ids=[a], custom_fields={"budget": "450k-500k"})
        second = meltano_run(config, tmp_path, first.result.final_state)

    budget, text, referral = (f"{PREFIX}{k}" for k in ("budget", "budget__v_text", "referral"))
    [schema] = first.result.schemas
    assert schema["schema"]["properties"][budget] == EXPLICIT_TYPES["integer"]
    assert {r["id"]: r[budget] for r in first.result.records} == {a: 450_000, b: 300_000}
    for schema in second.result.schemas:
        assert schema["schema"]["properties"][budget] == EXPLICIT_TYPES["integer"]
    for column in (text, referral):
        declared_at, carried_at = first_carrying(
            second.result.messages, column.removeprefix(PREFIX)
        )
        assert declared_at < carried_at
        assert (
            second.result.messages[declared_at]["schema"]["properties"][column]
            == (EXPLICIT_TYPES["string"])
        )
    rows = {r["id"]: (r.get(budget), r.get(text), r.get(referral)) for r in second.result.records}
    assert rows == {a: (None, "450k-500k", None), b: (300_000, None, "open house")}
    remembered = bookmark(second.result.final_state)["custom_fields"]
    assert remembered.items() >= {"budget": "integer", "budget__v_text": "string"}.items()
    assert remembered["referral"] == "string"
    assert "Custom field `budget` stays integer" in second.stderr


@pytest.mark.parametrize(("meltano", "declared"), [(True, "integer"), (False, "number")])
def test_a_new_slug_of_whole_numbers_is_declared_as_the_sample_or_its_first_value_says(
    small_emulator: MegaEmulator, tmp_path: Path, meltano: bool, declared: str
) -> None:
    config = discovering(small_emulator)
    catalog = discover(config, tmp_path)
    first = sync(config, tmp_path, catalog=catalog)
    ids = [lead["id"] for lead in small_emulator.leads][:2]
    small_emulator.update_leads(ids=ids, custom_fields={"rooms": 4})

    state = first.result.final_state
    second = (
        meltano_run(config, tmp_path, state) if meltano else sync(config, tmp_path, state, catalog)
    )

    assert bookmark(second.result.final_state)["custom_fields"]["rooms"] == declared


def test_a_deselected_slug_and_its_variants_are_never_declared() -> None:
    mask = SelectionMask({("properties", "custom_fields", "properties", "budget"): False})
    declarations, _ = Declarations.start(
        {"vip": EXPLICIT_TYPES["boolean"]}, {"budget": "number"}, mask
    )
    lead = {"id": "L1", "custom_fields": {"budget": "450k", "vip": True, "referral": "web"}}

    [line] = declarations.fit(lead)

    assert "`referral`" in line  # never listed in the catalog: selected, as its parent is
    assert lead["custom_fields"] == {"budget": "450k", "vip": True, "referral": "web"}
    assert set(declarations.properties()) == {"vip", "referral"}
    declarations.types["budget__v_text"] = "string"  # remembered from a run that selected it
    assert set(declarations.properties()) == {"vip", "referral"}
    assert declarations.types["budget"] == "number"  # still remembered
