"""What one account's run said: leads, requests, why it stopped, from Meltano's log lines.

The fleet uses the tap only through `meltano run`, never its internals, so
these numbers come from what the tap prints for every scheduler: the Singer
SDK's METRIC lines (`record_count`, a count since the last line of its kind, so
they add up, and one `http_request_duration` timer per request sent, whatever
its answer: a 401 or a retried 503 spends the budget too), the "Stopping early"
WARNING when the request budget ends a run, its "Progress:" (or a reconcile
pass's "Reconcile pass:") line with the ETA, and its one-line
`tap-mega: error: ...` on failure. Meltano relays each as one log event; with
`--log-format=json` every event is one JSON object naming the plugin that
printed it, which is what we read: the target prints a `record_count` too.

A run has two tap processes, and both spend the budget: `meltano run` first
runs `tap-mega --discover` (no catalog is given, and Meltano caches none for
an editable install), whose custom-field sample is one request, then the sync.
Meltano relays the discovery's stderr too, as events of `"type": "discovery"`
that name the plugin in `name` rather than `string_id`; we read them as the
tap's, so the sample's timer is counted and a discovery that fails (a 401 on
the sample) gives its own `tap-mega: error:` line, not Meltano's wrapper of
it. Counting what was relayed stays true when no sample is sent:
`custom_fields_schema` set, or a cached catalog (no discovery events at all).
"""

from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Iterable

METRIC = re.compile(r"METRIC: (\{.*\})")
TAP_ERROR = re.compile(r"tap-mega: error: (.+)")
STOPPED_EARLY = re.compile(r"Stopping early: .+")
#: The walk's progress lines, and a reconcile pass's: a pass the budget stops has the ETA.
ETA = re.compile(r"(?:Progress|Reconcile pass): .*ETA ([^,]+?)\s*$")
EXTRACTOR = "tap-mega"
#: The `type` Meltano gives the relayed stderr lines of the plugin's `--discover`.
DISCOVERY = "discovery"
LEADS_METRIC = "record_count"
REQUESTS_METRIC = "http_request_count"
REQUEST_TIMER = "http_request_duration"
# Failures the tap explains as needing a person: the token, the settings, a request MEGA
# rejects. They fail the same way on every try; anything else (MEGA or the network
# failing, a bad response, a crash) may pass on a later one.
PERMANENT = re.compile(
    r"\b40[13]\b|did not accept the credentials|refused access|invalid settings"
    r"|MEGA rejected the request|a --config, --state or --catalog file"
)


@dataclass
class RunReport:
    """The facts one `meltano run` of one account reported."""

    leads: int = 0
    requests_counted: int = 0
    requests_timed: int = 0
    stopped_early: str | None = None
    eta: str | None = None
    tap_error: str | None = None
    plugin_error: str | None = None
    meltano_error: str | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Requests sent: the timers count failed ones, which the SDK's counter skips."""
        return max(self.requests_timed, self.requests_counted)

    def reason(self, exit_code: int) -> str:
        """Why the run failed, in the tap's own line when it gave one."""
        if self.tap_error:
            return self.tap_error
        if self.plugin_error:
            return self.plugin_error
        if self.meltano_error:
            return f"meltano: {self.meltano_error}"
        return f"meltano run exited {exit_code} without saying why"

    def retryable(self) -> bool:
        """Worth another try: anything but a failure only a person can fix (401, 403, settings)."""
        return self.tap_error is None or PERMANENT.search(self.tap_error) is None


def read_report(output: Iterable[str]) -> RunReport:
    """Fold Meltano's output lines (JSON events or plain text) into one report."""
    report = RunReport()
    for raw in output:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        event = _event(line)
        report.lines.append(event.text)
        if event.source == EXTRACTOR:
            _read_tap_event(report, event)
        elif event.level in {"error", "critical"} and event.text.strip():
            first = event.text.strip().splitlines()[0]
            if event.source:
                report.plugin_error = f"{event.source}: {first}"
            else:
                report.meltano_error = first
    return report


@dataclass(frozen=True)
class _Event:
    text: str
    level: str
    source: str | None


def _event(line: str) -> _Event:
    """One line as Meltano's JSON event; a line that is not JSON is Meltano's own text."""
    try:
        data = json.loads(line)
    except ValueError:
        return _Event(line, "", None)
    if not isinstance(data, dict):
        return _Event(line, "", None)
    text = data.get("event")
    if isinstance(data.get("metric_info"), dict):
        text = f"METRIC: {json.dumps(data['metric_info'])}"
    source = data.get("string_id")
    if source is None and data.get("type") == DISCOVERY:
        source = data.get("name")
    return _Event(
        str(text) if text is not None else line,
        str(data.get("level", "")).lower(),
        source if isinstance(source, str) else None,
    )


def _read_tap_event(report: RunReport, event: _Event) -> None:
    if match := METRIC.search(event.text):
        _count_metric(report, match.group(1))
    elif match := TAP_ERROR.search(event.text):
        report.tap_error = match.group(1).strip()
    elif match := STOPPED_EARLY.search(event.text):
        report.stopped_early = match.group(0).strip()
    elif match := ETA.search(event.text):
        report.eta = match.group(1)


def _count_metric(report: RunReport, payload: str) -> None:
    try:
        metric = json.loads(payload)
    except ValueError:
        return
    if not isinstance(metric, dict):
        return
    name, value = metric.get("metric"), metric.get("value")
    if name == REQUEST_TIMER:
        report.requests_timed += 1
    elif not isinstance(value, int):
        return
    elif name == LEADS_METRIC:
        report.leads += value
    elif name == REQUESTS_METRIC:
        report.requests_counted += value
