"""What tap-mega changes in the SDK's Tap: its command line, state, settings checks and signals.

Kept out of tap.py, which declares only the settings and the streams: each
override here says why the SDK's behaviour is wrong for this tap. `TapMega`
inherits all of it.
"""

from __future__ import annotations

import copy
import io
import json
import os
import typing as t
from pathlib import Path

import click
from singer_sdk import Tap
from singer_sdk.plugin_base import PluginBase
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_mega.cli import checks as settings
from tap_mega.cli.files import (
    meltano_leftover,
    other_input_kind,
    read_json_object,
    read_state_json,
)
from tap_mega.errors import InputError, SettingsError
from tap_mega.redaction import register_secret
from tap_mega.state.inputs import account_problem, ignored_bookmark_problem, singer_state
from tap_mega.streams.writer import LineWriter
from tap_mega.termination import GUARD

if t.TYPE_CHECKING:
    from types import FrameType

#: Where `cb_test` leaves the `--test` value for `invoke` (click's per-run `ctx.meta`).
TEST_REQUESTED = "tap_mega.test"
#: Where `cb_discover` notes `--discover` for `invoke`.
DISCOVER_REQUESTED = "tap_mega.discover"
#: Where `cb_config` leaves the --config paths for `invoke` (see `meltano_leftover`).
CONFIG_FILES = "tap_mega.config_files"


class NumbersFromEnv:
    """The SDK's `_env_var_config` class property, with number settings parsed too.

    A descriptor of our own: the SDK's `classproperty` lives in a private module.
    Read on the class (the CLI) or an instance (the tap), it sees the class.
    """

    def __get__(self, instance: object, owner: type[Tap]) -> dict[str, t.Any]:
        """The environment's settings, as the SDK reads them, then numbers parsed.

        A variable the SDK cannot parse (`TAP_MEGA_PAGE_SIZE=abc`) is one line
        naming it and its setting, not the SDK's traceback.
        """
        try:
            sdk_env_config = vars(PluginBase)["_env_var_config"].__get__(None, owner)
        except ValueError as exc:
            prefix = f"{owner.name.upper().replace('-', '_')}_"
            problem = settings.environment_problem(owner.config_jsonschema, prefix, os.environ)
            raise SettingsError(
                [problem or f"a {prefix}* variable does not parse ({type(exc).__name__})"]
            ) from exc
        return settings.numbers_from_env(sdk_env_config, owner.config_jsonschema)


def read_catalog(path: str) -> dict[str, t.Any]:
    """A `--catalog` file: a JSON object with a `streams` list, or one line naming it."""
    catalog = read_json_object(path, "--catalog")
    if not isinstance(catalog.get("streams"), list):
        msg = f"the --catalog file {path} is not a Singer catalog: it has no `streams` list"
        raise InputError(msg)
    return catalog


class MegaTap(Tap):
    """The SDK's Tap with MEGA's command line, state shapes, settings checks and signals."""

    #: The SDK's lines, each written whole, a closed stdout one line (see writer.py).
    message_writer_class = LineWriter

    #: Private in the SDK (see sdk_contract.py): no public hook reads the environment.
    _env_var_config = NumbersFromEnv()

    @override
    def __init__(
        self,
        *,
        parse_env_config: bool = False,
        state: t.Any = None,
        connection_test: bool = False,
        **kwargs: t.Any,
    ) -> None:
        """Remember whether the environment is read, and the state, for the gate.

        `connection_test`: `tap-mega --test`; set before the SDK builds the streams,
        as the catalog it builds then must not cost a sample request.
        """
        self.connection_test = connection_test
        #: `--config=ENV`: settings come from the environment too.
        self.environment_read = parse_env_config
        #: The state handed over, checked with the settings (`_validate_config`).
        self.given_state = state if isinstance(state, dict) else {}
        super().__init__(parse_env_config=parse_env_config, state=state, **kwargs)

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Take any state shape users hold (state.py); refuse another account's bookmark.

        Overridden because the SDK reads only `bookmarks` of a plain state: a
        STATE message or Meltano's `singer_state` would silently mean "no
        bookmark" and re-read everything, and so would a bookmark the SDK skips
        (another stream's name, no `replication_key`).
        """
        plain = singer_state(state, "the state")
        self.check_state(plain)
        super().load_state(plain)

    def check_state(self, plain: dict[str, t.Any]) -> None:
        """Refuse a plain state whose bookmark is another account's, or one the SDK skips."""
        self.check_account(plain)
        keys = {stream.name: stream.replication_key for stream in self.streams.values()}
        if (ignored := ignored_bookmark_problem(plain.get("bookmarks", {}), keys)) is not None:
            raise InputError(ignored)

    def check_account(self, plain: dict[str, t.Any]) -> None:
        """Refuse a plain state whose bookmark is another account's."""
        for name, bookmark in plain.get("bookmarks", {}).items():
            if (problem := account_problem(bookmark, self.config, name)) is not None:
                raise InputError(problem)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with `--state` and `--catalog` taken as paths for `invoke`.

        Overridden because click opens those files itself: a missing one would be
        a click traceback and a broken one the SDK's, never a line naming the file.
        """
        command = super().get_singer_command()
        for param in command.params:
            if param.name in {"state", "catalog"}:
                param.type = click.STRING
        return command

    @classmethod
    @override
    def cb_config(
        cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]
    ) -> t.Any:
        """Read `--config` as the SDK does; an unusable file is one line naming it.

        A pipe (`--config <(...)`) cannot be read twice, so only regular files
        are read again, to check each holds an object (the SDK merges a list into
        the settings in silence); any file is, when the SDK fails on it, to say
        which and why.
        """
        files = [path for path in value if path != "ENV"]
        ctx.meta[CONFIG_FILES] = files
        try:
            result = super().cb_config(ctx, param, value)
        except (OSError, ValueError, TypeError, RuntimeError):
            for path in files:
                read_json_object(path, "--config")
            raise
        for path in files:
            if Path(path).is_file():
                settings_file(path)
        return result

    @classmethod
    @override
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Note `--discover` for `invoke`, which runs it once `--state` is read.

        Overridden because the SDK discovers in this callback, before `--state` is
        read in some orders, and never checks it: Meltano passes its state to
        discovery too, and another account's state must stop discovery's sample.
        """
        if value:
            ctx.meta[DISCOVER_REQUESTED] = True

    @classmethod
    def run_discovery_checked(cls, config: t.Any, state: dict[str, t.Any]) -> None:
        """`--discover` as the SDK runs it, the state checked by the gate before the sample."""
        tap = cls(config=config.config, parse_env_config=config.parse_env, state=state,
                  setup_mapper=False)
        tap.run_discovery()

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """Note `--test` for `invoke`, which runs it once `--state` is read.

        Overridden because the SDK runs the test in this callback, before click has
        read `--state`: a state that is no state, or another account's, passed
        unchecked and the test said all was well.
        """
        if value != CliTestOptionValue.Disabled.value:
            ctx.meta[TEST_REQUESTED] = value

    @classmethod
    def run_test(cls, value: str, config: t.Any, state: dict[str, t.Any]) -> None:
        """`--test` as the SDK runs it, the state checked first, the streams told it is a test.

        The state is checked, not loaded: a test reads the newest lead, as it
        always has.
        """
        tap = cls(
            config=config.config,
            parse_env_config=config.parse_env,
            connection_test=value == CliTestOptionValue.All.value,
        )
        tap.check_state(state)
        if value == CliTestOptionValue.Schema.value:
            tap.write_schemas()
        else:
            tap.run_connection_test()

    @classmethod
    @override
    def invoke(  # type: ignore[override]  # paths, not the SDK's open files (see above)
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: str | None = None,
        catalog: str | None = None,
    ) -> None:
        """Read `--state` (any accepted shape) and `--catalog`, naming the file on failure.

        Then run `--discover` or `--test` (see `cb_discover`, `cb_test`) or the
        SDK's sync: every mode starts from inputs already checked.
        """
        state_text = catalog_text = None
        plain: dict[str, t.Any] = {}
        requested = click.get_current_context().meta
        if state is not None and meltano_leftover(state, requested.get(CONFIG_FILES, [])):
            cls.logger.warning(
                "Ignoring --state %s: the state an earlier Meltano command left, not one "
                "looked up for this command (Meltano does that only for a sync)", state
            )
            state = None
        if not about:
            if state is not None:
                source = f"the --state file {state}"
                plain = singer_state(read_state_json(state, "--state"), source)
                state_text = io.StringIO(json.dumps(plain))
            if requested.get(DISCOVER_REQUESTED):
                cls.run_discovery_checked(config, plain)
                return
            test = requested.get(TEST_REQUESTED)
            if test is not None:
                cls.run_test(test, config, plain)
                return
            if catalog is not None:
                catalog_text = io.StringIO(json.dumps(read_catalog(catalog)))
        super().invoke(
            about=about,
            about_format=about_format,
            config=config,
            state=state_text,
            catalog=catalog_text,
        )


    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The one gate: settings, then the state's account, checked before any request.

        Refuses whatever `validate_config` a caller passed, so no entry point
        (the SDK's `--discover` without `dynamic_catalog`, a second tap built from
        checked settings) can reach MEGA with settings the tap would refuse: the
        token in clear text, say. `raise_errors=False` only skips the warnings,
        already given by the caller's first tap.
        """
        register_secret(self.config.get("token"))
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)
        problems = settings.find_problems(
            self.config, schema, environment_read=self.environment_read
        )
        if problems:
            raise SettingsError(problems)
        # Before the SDK builds the streams (its mapper does, before `load_state`),
        # which may send discovery's sample: another account's state sends nothing.
        self.check_account(singer_state(self.given_state, "the state"))
        if raise_errors:
            for name in settings.unknown_settings(self.config, schema):
                self.logger.warning("Ignoring unknown setting `%s`: no such setting", name)
        return problems

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at a safe point and exit non-zero (the SDK exits 0); see termination.py."""
        GUARD.handle(signum)


#: Settings whose presence makes a --config file a config, whatever else it holds.
REQUIRED_SETTINGS = ("token", "customer_id")


def settings_file(path: str) -> dict[str, t.Any]:
    """A --config file's object; a catalog or a state in its place is named as such."""
    return settings_object(read_json_object(path, "--config"), path)


def settings_object(value: dict[str, t.Any], path: str) -> dict[str, t.Any]:
    """`value`, read from the --config file `path`, unless it is another input file."""
    kind = other_input_kind(value)
    if kind is not None and not any(name in value for name in REQUIRED_SETTINGS):
        msg = f"the --config file {path} is {kind}"
        raise InputError(msg)
    return value
