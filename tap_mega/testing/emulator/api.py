"""The application behind the gateway: route, authenticate, validate, list."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tap_mega.testing.emulator.cursor import Cursor
from tap_mega.testing.emulator.query import (
    INDEXED_SORTS,
    PageOptions,
    parse_query,
    unique_params,
)
from tap_mega.testing.emulator.wire import (
    JSON_TYPE,
    LEADS_PATH,
    READ_SCOPE,
    ApiError,
    Response,
    bearer,
    dumps,
    error_response,
)

if TYPE_CHECKING:
    from email.message import Message

    from tap_mega.testing.emulator.store import LeadStore

__all__ = ["Account", "LeadsApi"]


@dataclass(frozen=True)
class Account:
    """Whose leads these are and what the one valid token may do."""

    token: str
    customer_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class LeadsApi:
    """One account's view of the lead list endpoint."""

    account: Account
    store: LeadStore
    paging: PageOptions = field(default_factory=PageOptions)

    def respond(
        self,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        headers: Message,
    ) -> Response:
        """Route, authenticate, validate and list."""
        try:
            _route(method, path)
            _authenticate(headers, self.account)
            return _list(self.store, unique_params(pairs), self.paging)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)


def _route(method: str, path: str) -> None:
    """404 for unknown paths, 405 for methods other than GET.

    The real API also accepts POST here (create or merge a lead); the
    emulator is read-only, so a tap that tried to write fails loudly.
    Silent in the docs: 405 uses type invalid_request_error, the closest
    documented type, with an ``Allow`` header.
    """
    if path != LEADS_PATH:
        msg = f"No route for {method} {path}."
        raise ApiError(404, msg)
    if method != "GET":
        msg = f"Method {method} is not allowed on {path}."
        raise ApiError(405, msg, {"Allow": "GET"})


def _authenticate(headers: Message, account: Account) -> None:
    """401/403 as documented; messages never echo a credential."""
    token = bearer(headers)
    if token is None:
        raise ApiError(401, "Missing bearer token.")
    if not hmac.compare_digest(token.encode(), account.token.encode()):
        raise ApiError(401, "Invalid or revoked token.")
    customer = headers.get("x-customer-id")
    if not customer:
        raise ApiError(401, "Missing x-customer-id header.")
    if customer.strip().lower() != account.customer_id.lower():
        raise ApiError(403, "Token is not authorized for this customer.")
    if READ_SCOPE not in account.scopes:
        msg = f"Token lacks the required scope {READ_SCOPE}."
        raise ApiError(403, msg)


def _list(store: LeadStore, params: dict[str, str], paging: PageOptions) -> Response:
    """The documented five-key page, spliced from per-lead cached JSON."""
    query = parse_query(params, paging)
    rows, more = store.page(query)
    full = len(rows) == query.limit and query.sort_by in INDEXED_SORTS
    next_cursor = None
    if rows and (more or (full and paging.trailing_empty_page)):
        last = rows[-1]
        value = last.sort_us(query.sort_by)
        if value is not None:
            position = Cursor(query.sort_by, query.sort_dir, value, last.lead["id"])
            next_cursor = position.encode(paging.cursor_alphabet)
    include = query.include_custom_fields
    leads = b",".join(row.encoded(include_custom_fields=include) for row in rows)
    rest = dumps(
        {
            "total": store.total(query),
            "limit": query.limit,
            "offset": query.offset,
            "next_cursor": next_cursor,
        }
    )
    return Response(200, b'{"leads":[' + leads + b"]," + rest[1:], dict(JSON_TYPE))
