"""One page of `GET /leads`, checked against its documented shape, and the cursor paginator.

A half-formed body must never pass for "no more leads", nor a cursor lead back to a
page already read: either would end or loop a sync silently.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import urlparse

from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_mega.errors import MegaResponseError, UnreadableBodyError

if t.TYPE_CHECKING:
    from collections.abc import Callable

    import requests

PAGE_KEYS = ("leads", "total", "limit", "offset", "next_cursor")


@dataclass(frozen=True)
class Page:
    """One checked page of `GET /leads`."""

    leads: list[dict[str, t.Any]]
    total: int
    next_cursor: str | None
    #: The page size MEGA served: less than asked when it caps `limit`.
    limit: int | None = None


def read_page_body(response: requests.Response) -> Page:
    """A 200's body as a Page: not JSON is retried, JSON of the wrong shape is final."""
    try:
        body = response.json()
    except ValueError as exc:
        msg = f"MEGA returned a 200 whose body is not JSON for GET {urlparse(response.url).path}"
        raise UnreadableBodyError(msg, response) from exc
    if not isinstance(body, dict):
        msg = "MEGA returned a 200 whose body is not a JSON object"
        raise MegaResponseError(msg)
    if missing := [key for key in PAGE_KEYS if key not in body]:
        msg = f"MEGA returned a page without {', '.join(missing)}: not the documented shape"
        raise MegaResponseError(msg)
    leads, total, cursor = body["leads"], body["total"], body["next_cursor"]
    if not isinstance(leads, list) or not all(isinstance(lead, dict) for lead in leads):
        msg = "MEGA returned a page whose 'leads' is not a list of objects"
        raise MegaResponseError(msg)
    if not isinstance(total, int) or isinstance(total, bool):
        msg = f"MEGA returned a page whose 'total' is not an integer: {total!r}"
        raise MegaResponseError(msg)
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        msg = f"MEGA returned a page whose 'next_cursor' is not a string or null: {cursor!r}"
        raise MegaResponseError(msg)
    limit = body["limit"]
    served = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
    return Page(leads=leads, total=total, next_cursor=cursor, limit=served)


class NextCursorPaginator(BaseAPIPaginator[str | None]):
    """Refuses any cursor seen before: the SDK's catches only A, A, not A, B, A."""

    @override
    def __init__(
        self, read_page: Callable[[requests.Response], Page], start: str | None = None
    ) -> None:
        """`start`: a cursor saved earlier; None for the first page."""
        super().__init__(start)
        self._read_page = read_page
        self._seen: set[str | None] = {start} if start else set()

    @override
    def get_next(self, response: requests.Response) -> str | None:
        """The next cursor, None (done) after the last page: never one seen before."""
        cursor = self._read_page(response).next_cursor
        if cursor in self._seen:  # None, the end, comes once
            msg = (
                f"MEGA returned a next_cursor already followed in this sync "
                f"(page {self.count}): stopping instead of paging in a loop"
            )
            raise MegaResponseError(msg)
        self._seen.add(cursor)
        return cursor
