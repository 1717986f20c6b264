"""The doctor's report: lines of `ok`, `warning` or `unexpected`, as text or as one JSON object.

Both forms come from the same lines, so a report pasted into a bug report as
JSON says exactly what the person saw on the terminal.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from tap_mega import __version__

OK = "ok"
WARNING = "warning"
UNEXPECTED = "unexpected"
ERROR = "error"
SKIPPED = "skipped"
#: Statuses that make the doctor exit 1: the first sync would fail, or MEGA
#: does not behave as the tap assumes.
FAILING = frozenset({UNEXPECTED, ERROR})
SECTIONS = ("Connection", "Account", "Leads", "Budget", "Assumptions")
STATUS_WIDTH = 11
CHECK_WIDTH = 15


@dataclass(frozen=True)
class Line:
    """One finding: what was checked, how it came out, and what to do about it."""

    section: str
    check: str
    status: str
    text: str
    #: The numbers behind the text, for scripts reading `--json`.
    data: dict[str, t.Any] = field(default_factory=dict)


@dataclass
class Report:
    """Every finding of one run, in the order the sections are read."""

    lines: list[Line] = field(default_factory=list)
    #: Requests the doctor sent to MEGA (at most three), and those it caused.
    requests: int = 0
    target: str = ""
    #: Of `requests`, those sent on its behalf before it ran (Meltano's discovery).
    caused: int = 0
    #: Who sent them, or that their number cannot be known (the header says it).
    caused_note: str = ""

    def add(self, section: str, check: str, status: str, text: str, **data: t.Any) -> Line:
        """Record a finding; `data` keeps its numbers for `--json`."""
        line = Line(section, check, status, text, data)
        self.lines.append(line)
        return line

    def count(self, status: str) -> int:
        """How many lines have `status`."""
        return sum(line.status == status for line in self.lines)

    @property
    def exit_code(self) -> int:
        """0 when every line is ok or a warning; 1 on an error or anything unexpected."""
        return 1 if any(line.status in FAILING for line in self.lines) else 0

    def summary(self) -> str:
        """`ok`, `2 warnings`, `1 unexpected, 1 warning`: the last line's verdict."""
        parts = []
        for status in (ERROR, UNEXPECTED, WARNING):
            if count := self.count(status):
                noun = f"{status}s" if count > 1 and status != UNEXPECTED else status
                parts.append(f"{count} {noun}")
        return ", ".join(parts) or "all ok"

    def to_json(self) -> dict[str, t.Any]:
        """The whole report as one JSON object, sections in reading order."""
        sections: dict[str, list[dict[str, t.Any]]] = {}
        for line in self.lines:
            sections.setdefault(line.section.lower(), []).append(
                {"check": line.check, "status": line.status, "text": line.text, "data": line.data}
            )
        return {
            "tool": "tap-mega-doctor",
            "version": __version__,
            "target": self.target,
            "requests": self.requests,
            "requests_caused": self.caused,
            "summary": self.summary(),
            "exit_code": self.exit_code,
            "sections": sections,
        }

    def render(self) -> str:
        """The report as a person reads it: one line per finding, grouped by section."""
        sent = f"{self.requests} request" + ("" if self.requests == 1 else "s")
        if self.caused_note:
            sent += f": {self.requests - self.caused} by the doctor{self.caused_note}"
        out = [f"tap-mega-doctor {__version__}: {self.target} ({sent})"]
        for section in SECTIONS:
            lines = [line for line in self.lines if line.section == section]
            if not lines:
                continue
            out.append("")
            out.append(section)
            out.extend(
                f"  {line.status:<{STATUS_WIDTH}}{line.check:<{CHECK_WIDTH}}{line.text}"
                for line in lines
            )
        out.append("")
        out.append(f"Result: {self.summary()} (exit {self.exit_code})")
        return "\n".join(out) + "\n"
