"""What tap-mega changes in the SDK's Tap (command line, state, settings gate, signals), and why."""

from __future__ import annotations

import contextlib
import copy
import typing as t
from pathlib import Path

import click
from singer_sdk import Tap
from singer_sdk.plugin_base import PluginBase
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_mega.cli import checks as settings
from tap_mega.cli.files import meltano_leftover, read_json_object, read_state_json
from tap_mega.errors import InputError, SettingsError
from tap_mega.redaction import register_secret
from tap_mega.state.inputs import account_problem, ignored_bookmark_problem, singer_state
from tap_mega.streams.writer import LineWriter
from tap_mega.termination import GUARD

if t.TYPE_CHECKING:
    from types import FrameType

#: Where `cb_config` leaves the --config paths for `invoke` (see `meltano_leftover`).
CONFIG_FILES = "tap_mega.config_files"


class NumbersFromEnv:
    """The SDK's `_env_var_config` with number settings parsed (it leaves them as text)."""

    def __get__(self, instance: object, owner: type[Tap]) -> dict[str, t.Any]:
        """Our own descriptor: the SDK's `classproperty` lives in a private module."""
        try:
            config: dict[str, t.Any] = vars(PluginBase)["_env_var_config"].__get__(None, owner)
        except ValueError as exc:  # the SDK's int() or JSON parse: a traceback otherwise
            raise SettingsError([settings.environment_problem(owner.config_jsonschema)]) from exc
        properties = owner.config_jsonschema["properties"]
        for name, value in config.items():
            if isinstance(value, str) and "number" in properties[name].get("type", []):
                with contextlib.suppress(ValueError):  # kept as text: validation names it
                    config[name] = float(value)
        return config


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
        """`connection_test`: `--test`, known before the streams are built: it costs no sample."""
        self.connection_test = connection_test
        self.environment_read = parse_env_config
        #: Checked with the settings (`_validate_config`), before the SDK loads it.
        self.given_state = state if isinstance(state, dict) else {}
        super().__init__(parse_env_config=parse_env_config, state=state, **kwargs)

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Overridden: the SDK reads a plain state's `bookmarks` only, and skips some in silence.

        Any other shape (state/inputs.py), or a skipped bookmark, would re-read everything.
        A connection test checks the state but does not load it: it reads the newest lead.
        """
        plain = singer_state(state, "the state")
        keys = {stream.name: stream.replication_key for stream in self.streams.values()}
        if (ignored := ignored_bookmark_problem(plain.get("bookmarks", {}), keys)) is not None:
            raise InputError(ignored)
        if not self.connection_test:
            super().load_state(plain)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """Overridden: click opens --state and --catalog (a missing one is a traceback).

        And the SDK runs --test and --discover in callbacks, some before --state is read.
        """
        command = super().get_singer_command()
        for param in command.params:
            if param.name in {"state", "catalog"}:
                param.type = click.STRING
            elif param.name in {"discover", "test"}:
                param.callback = None
                param.expose_value = True
        return command

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Overridden: the SDK merges a list in silence, and fails on a bad file with a traceback.

        Regular files are read again to check them (a pipe cannot be); any file, to name it.
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
    def invoke(  # type: ignore[override]  # paths and modes, not the SDK's open files
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: str | None = None,
        catalog: str | None = None,
        discover: bool = False,
        test: str = CliTestOptionValue.Disabled.value,
    ) -> None:
        """Every mode (--discover, --test, a sync) starts from --state and --catalog checked."""
        if about:
            super().invoke(about=about, about_format=about_format)
        config_files = click.get_current_context().meta.get(CONFIG_FILES, [])
        if state is not None and meltano_leftover(state, config_files):
            cls.logger.warning(
                "Ignoring --state %s: the state an earlier Meltano command left, not one "
                "looked up for this command (Meltano does that only for a sync)",
                state,
            )
            state = None
        plain: dict[str, t.Any] = {}
        if state is not None:
            plain = singer_state(read_state_json(state, "--state"), f"the --state file {state}")
        testing = test != CliTestOptionValue.Disabled.value
        syncing = not (discover or testing)
        if syncing:
            cls.print_version(print_fn=cls.logger.info)
        given_catalog = (
            None if catalog is None or not syncing else read_json_object(catalog, "--catalog")
        )
        if given_catalog is not None and not isinstance(given_catalog.get("streams"), list):
            msg = f"the --catalog file {catalog} is not a Singer catalog: it has no `streams` list"
            raise InputError(msg)
        tap = cls(
            config=config.config,
            parse_env_config=config.parse_env,
            state=plain,
            catalog=given_catalog,
            setup_mapper=not discover,
            connection_test=test == CliTestOptionValue.All.value,
        )
        if discover:
            tap.run_discovery()
        elif test == CliTestOptionValue.Schema.value:
            tap.write_schemas()
        elif testing:
            tap.run_connection_test()
        else:
            tap.sync_all()

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The one gate, whatever `validate_config` says: no tap reaches MEGA with bad settings.

        `raise_errors=False` only skips the warnings.
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
        bookmarks = singer_state(self.given_state, "the state").get("bookmarks", {})
        for name, bookmark in bookmarks.items():
            if (problem := account_problem(bookmark, self.config, name)) is not None:
                raise InputError(problem)
        if raise_errors:
            for name in sorted(set(self.config) - set(schema["properties"])):
                self.logger.warning("Ignoring unknown setting `%s`: no such setting", name)
        return []

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at a safe point and exit non-zero (the SDK exits 0); see termination.py."""
        GUARD.handle(signum)


def settings_file(path: str) -> dict[str, t.Any]:
    """A --config file's object; a catalog or a state in its place is named as such.

    Otherwise a state passed as --config is told as "setting `token` is required".
    """
    value = read_json_object(path, "--config")
    if "token" in value or "customer_id" in value:
        return value
    if isinstance(value.get("streams"), list):
        kind = "a Singer catalog (an object with `streams`): pass it as --catalog"
    elif {"bookmarks", "singer_state"} & set(value) or value.get("type") == "STATE":
        kind = "a state: pass it as --state"
    elif isinstance(value.get("type"), str):
        kind = f"a {value['type']} message, not settings"
    else:
        return value
    msg = f"the --config file {path} is {kind}"
    raise InputError(msg)
