"""The tap's settings, parsed once from the checked config: typed, frozen, their defaults here.

The SDK fills in no defaults and hands every part the raw `config`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field, fields

from tap_mega.state.lookback import parse_lookback
from tap_mega.timestamps import parse_duration, parse_timestamp

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

#: Where MEGA's API lives unless `api_url` says otherwise.
DEFAULT_API_URL = "https://app.gomega.ai"
#: How often a full reconcile pass runs at the latest, when no lead is seen vanishing.
DEFAULT_RECONCILE_INTERVAL = "P7D"
#: Settings passed through as the API's own filters, with their names on the wire.
FILTER_PARAMS = {
    "status": "status",
    "stage_id": "stageId",
    "lead_line": "lead_line",
    "search": "search",
}


@dataclass(frozen=True)
class Settings:
    """Everything the stream and its client read from the config; tap.py's defaults too."""

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
    #: Detect deleted leads and retire them with reconcile passes (streams/mirror.py).
    reconcile_deletes: bool = True
    reconcile_interval: dt.timedelta = parse_duration(DEFAULT_RECONCILE_INTERVAL, "", 0)  # noqa: RUF009

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> Settings:
        """The settings of a checked config: one left out takes its default (null is refused)."""
        settings = {item.name: config[item.name] for item in fields(cls) if item.name in config}
        settings["api_url"] = config.get("api_url", cls.api_url).rstrip("/")
        settings["start_date"] = config.get("start_date") or None
        settings["filters"] = {name: config[name] for name in FILTER_PARAMS if config.get(name)}
        settings["lookback"] = parse_lookback(config.get("lookback_window"))
        interval = config.get("reconcile_interval", DEFAULT_RECONCILE_INTERVAL)
        settings["reconcile_interval"] = parse_duration(interval, "reconcile_interval", 0)
        return cls(**settings)

    @property
    def start(self) -> dt.datetime | None:
        """`start_date` as an instant; None: everything."""
        return parse_timestamp(self.start_date) if self.start_date else None
