"""The mirror's state: which version the target holds, the reconcile pass, the vanish check.

MEGA has no tombstones: a deleted lead just stops appearing. A full pass whose
RECORDs carry one version, then ACTIVATE_VERSION, lets SQL targets retire every
row that version did not carry. Passes are paid for in the request budget, so they
run when the check sees leads vanish, or every `reconcile_interval` at the latest.

The check needs no ids: `older` is how many leads created before `since` lived at
the last check. If fewer live now, some vanished. `since` is one millisecond past
the newest lead then counted, so a lead created later is never counted twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import typing as t

from tap_mega.state.resume import ResumePoint
from tap_mega.timestamps import InvalidTimestampError, format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Sequence

#: The key in the stream's state.
STATE_KEY = "mirror"


@dataclasses.dataclass
class Pass:
    """A reconcile pass under way: a walk of the whole account under one version."""

    version: int
    started_at: str
    #: The walk's fixed parameters (resume.walk_fingerprint): another walk is another pass.
    walk: str
    #: The last `updated_at` the pass emitted: it resumes there when its cursor cannot.
    position: str | None = None
    emitted: int = 0
    resume_from: dict[str, t.Any] | None = None

    @property
    def resume_point(self) -> ResumePoint | None:
        """The cursor the pass left off at, if it saved one."""
        return ResumePoint.from_state(self.resume_from)


@dataclasses.dataclass
class Check:
    """The vanish check's baseline: `older` leads created before `since` were alive."""

    since: str | None
    older: int
    walk: str


@dataclasses.dataclass
class Mirror:
    """Everything about the target's rows that a run must remember."""

    #: The newest version issued: a run's RECORDs outside a pass, or a pass (`run_version`).
    version: int | None = None
    pass_: Pass | None = None
    #: Leads vanished since the last pass started: another pass must run.
    due: bool = False
    #: When the last completed pass started; `reconcile_interval` counts from it.
    reconciled_at: str | None = None
    check: Check | None = None
    #: A completed pass's version whose ACTIVATE_VERSION waits for the next run (reconcile.py).
    activate: int | None = None

    @classmethod
    def from_state(cls, value: object) -> Mirror:
        """The mirror a run saved; parts that are not ours are dropped, which costs a pass."""
        if not isinstance(value, dict):
            return cls()
        version, activate = value.get("version"), value.get("activate")
        mirror = cls(
            version=version if type(version) is int else None,
            activate=activate if type(activate) is int else None,
            due=value.get("due") is True,
            reconciled_at=_instant(value.get("reconciled_at")),
        )
        saved_pass, check = value.get("pass"), value.get("check")
        if isinstance(saved_pass, dict):
            mirror.pass_ = _read(Pass, saved_pass)
        if isinstance(check, dict):
            mirror.check = _read(Check, check)
        return mirror

    def to_state(self) -> dict[str, t.Any]:
        """The JSON the stream's state keeps: a few hundred bytes, whatever the account."""
        value = dataclasses.asdict(self)
        value["pass"] = value.pop("pass_")
        return value

    def run_version(self, now: dt.datetime) -> int:
        """The one version every RECORD of this run carries: the pass's, else a new one.

        One a run: an SDK target may write a run's records out of order (a SCHEMA sent
        mid-run), so a lead sent twice must not end with an older version than the
        pass that starts later in the run, or that pass's ACTIVATE_VERSION retires it.
        """
        if self.pass_ is None:
            self.version = self.issue(now)
        return self.pass_.version if self.pass_ else t.cast("int", self.version)

    def issue(self, now: dt.datetime) -> int:
        """A version above every one issued before (epoch seconds, as the SDK's)."""
        newest = max(self.version or 0, self.pass_.version if self.pass_ else 0)
        return max(math.floor(now.timestamp()), newest + 1)

    def start_pass(self, walk: str, now: dt.datetime, version: int | None = None) -> Pass:
        """A new pass; `version`: the one this run's RECORDs already carry."""
        self.pass_ = Pass(version or self.issue(now), format_timestamp(now), walk)
        self.due = False  # this pass starts after what was seen vanishing
        return self.pass_

    def drop_pass(self) -> Mirror:
        """Forget the pass under way or not yet activated, not its version nor its need.

        Its ACTIVATE_VERSION would retire the leads sent since without its version.
        """
        if self.pass_ is not None or self.activate is not None:
            self.version = max(self.version or 0, self.pass_.version if self.pass_ else 0)
            self.pass_, self.activate, self.due = None, None, True
        return self

    def complete_pass(self) -> int:
        """The pass has seen every lead: its version becomes the target's."""
        done, self.pass_ = self.pass_, None
        if done is not None:
            self.version, self.reconciled_at = done.version, done.started_at
        return self.version or 0

    def why_pass(self, now: dt.datetime, interval: dt.timedelta, interval_text: str) -> str | None:
        """Why a pass must start now; None when none is needed."""
        if self.due:
            return "leads vanished from MEGA since the last check"
        if self.reconciled_at is None:
            return "no reconcile pass has completed yet"
        if now - parse_timestamp(self.reconciled_at) >= interval:
            return f"reconcile_interval ({interval_text}) has passed since the last one"
        return None


@dataclasses.dataclass(frozen=True)
class CountPage:
    """What a check request tells: MEGA's `total`, and the page's `created_at`s, newest first."""

    total: int
    created: Sequence[dt.datetime]


def vanished(check: Check, since_page: CountPage, all_page: CountPage) -> int | None:
    """How many leads created before `check.since` vanished; None when it cannot be told.

    `since_page` (created_since) is fetched before `all_page`, so a lead created
    between them is in `all_page` only: those on its page are taken off. A page
    full of them hides how many more there are, and the check waits for the next run.
    """
    if check.since is None:
        return 0 if check.older == 0 else None
    newest = since_page.created[0] if since_page.created else parse_timestamp(check.since)
    later = [moment for moment in all_page.created if moment > newest]
    if all_page.created and len(later) == len(all_page.created) and all_page.total > len(later):
        return None
    older_now = all_page.total - len(later) - since_page.total
    return max(check.older - older_now, 0)


def baseline(all_page: CountPage, walk: str) -> Check:
    """The next check's baseline: every lead now counted is older than `since`.

    One millisecond past the newest, MEGA's documented precision: a finer step
    could name an instant MEGA rounds back onto that lead, counting it twice.
    """
    if not all_page.created:
        return Check(None, all_page.total, walk)
    since = all_page.created[0] + dt.timedelta(milliseconds=1)
    return Check(format_timestamp(since), all_page.total, walk)


def now_utc() -> dt.datetime:
    """This machine's clock, for pass versions and the interval (tests move it)."""
    return dt.datetime.fromtimestamp(time.time(), dt.timezone.utc)


def _instant(value: object) -> str | None:
    """A canonical instant, or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return format_timestamp(parse_timestamp(value))
    except InvalidTimestampError:
        return None


_T = t.TypeVar("_T", Pass, Check)


def _read(kind: type[_T], value: dict[str, t.Any]) -> _T | None:
    """A saved pass or check, or None when it is not one this tap wrote."""
    names = {field.name for field in dataclasses.fields(kind)}
    try:
        item = kind(**{key: item for key, item in value.items() if key in names})
    except TypeError:
        return None
    numbers = [getattr(item, name) for name in ("version", "emitted", "older") if name in names]
    instants = [
        getattr(item, name) for name in ("started_at", "since", "position") if name in names
    ]
    if any(type(number) is not int or number < 0 for number in numbers):
        return None
    if any(moment is not None and _instant(moment) is None for moment in instants):
        return None
    if not isinstance(item.walk, str):
        return None
    if isinstance(item, Pass) and item.position is not None:
        # Compared as text with the bookmark (leads.py): only the canonical form orders right.
        item.position = _instant(item.position)
    return item
