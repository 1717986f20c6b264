"""The tap's settings, parsed once: typed, frozen, and the one source of their defaults.

The SDK hands every part of the tap the same raw `config` dictionary, and the
SDK does not fill in the schema's defaults; read at each point of use, a
default was written three times and `start_date` parsed in four places. Built
once after the tap has checked the config (cli/checks.py words any problem),
so parsing here cannot fail on a config a user could give.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from tap_mega.errors import SettingsError
from tap_mega.state.lookback import LookbackError, parse_lookback
from tap_mega.timestamps import parse_timestamp

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

#: Where MEGA's API lives unless `api_url` says otherwise.
DEFAULT_API_URL = "https://app.gomega.ai"
#: Settings passed through as the API's own filters, with their names on the wire.
FILTER_PARAMS = {
    "status": "status",
    "stage_id": "stageId",
    "lead_line": "lead_line",
    "search": "search",
}


@dataclass(frozen=True)
class Settings:
    """Everything the stream and its client read from the config.

    The defaults here are the settings schema's (tap.py reads them from this class).
    """

    token: str
    customer_id: str
    api_url: str = DEFAULT_API_URL
    #: As given: a saved cursor's fingerprint holds this text (see resume.py).
    start_date: str | None = None
    #: MEGA's largest page: the request budget, not the page, is the scarce resource.
    page_size: int = 100
    include_custom_fields: bool = True
    custom_fields_schema: dict[str, str] | None = None
    #: The filters set (`FILTER_PARAMS`), by setting name.
    filters: dict[str, str] = field(default_factory=dict)
    lookback: dt.timedelta = field(default_factory=lambda: parse_lookback(None))
    request_timeout: float = 60
    #: A full hourly rate window.
    max_wait_seconds: float = 3600
    rate_limit_reserve: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> Settings:
        """The settings of a config; a setting left out or null takes its default.

        A tap built without checking its config (source-mega's catalog for `read`)
        gets one line naming a setting that does not parse, never a traceback.
        """
        def given(name: str, kind: type[t.Any], default: t.Any) -> t.Any:
            value = config.get(name)
            if value is None:
                return default
            try:
                return kind(value)
            except (TypeError, ValueError) as exc:
                problem = f"setting `{name}` must be a number, got {value!r}"
                raise SettingsError([problem]) from exc

        start_date = config.get("start_date")
        try:
            lookback = parse_lookback(config.get("lookback_window"))
        except LookbackError as exc:
            raise SettingsError([str(exc)]) from exc
        return cls(
            token=str(config.get("token", "")),
            customer_id=str(config.get("customer_id", "")),
            api_url=given("api_url", str, cls.api_url).rstrip("/"),
            start_date=str(start_date) if start_date else None,
            page_size=given("page_size", int, cls.page_size),
            include_custom_fields=given("include_custom_fields", bool, cls.include_custom_fields),
            custom_fields_schema=config.get("custom_fields_schema"),
            filters={
                name: str(value)
                for name in FILTER_PARAMS
                if (value := config.get(name)) is not None and value != ""
            },
            lookback=lookback,
            request_timeout=given("request_timeout", float, cls.request_timeout),
            max_wait_seconds=given("max_wait_seconds", float, cls.max_wait_seconds),
            rate_limit_reserve=given("rate_limit_reserve", int, cls.rate_limit_reserve),
        )

    @property
    def start(self) -> dt.datetime | None:
        """`start_date` as an instant; None: everything."""
        return parse_timestamp(self.start_date) if self.start_date else None
