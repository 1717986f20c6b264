"""HTTP concerns shared by MEGA streams: auth, headers, paging, errors, rate limits."""

from __future__ import annotations

import math
import random
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlparse

import backoff
import requests
from singer_sdk import RESTStream
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator

from tap_mega import __version__
from tap_mega.pacer import Pacer, ReserveTooLargeError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from backoff.types import Details
    from singer_sdk.helpers.types import Context

USER_AGENT = f"tap-mega/{__version__}"
PAGE_KEYS = ("leads", "total", "limit", "offset", "next_cursor")
RETRY_MAX_TRIES = 8
RETRY_MAX_WAIT_SECONDS = 60.0
DEFAULT_MAX_WAIT_SECONDS = 3600.0


class MegaError(Exception):
    """A failure the user must act on; its text is the one line they are shown."""


class MegaAuthError(MegaError):
    """401 or 403: retrying cannot help, the settings or the token must change."""


class MegaRequestError(MegaError):
    """A 4xx the API gave for our request: retrying the same request cannot help."""


class MegaResponseError(MegaError):
    """A response that breaks the documented contract; we stop rather than guess."""


class RateLimitedError(Exception):
    """A 429: waited out and retried, never counted as a failed try."""

    def __init__(self, retry_after: float) -> None:
        """Keep how long the API asked us to wait."""
        super().__init__(f"rate limited, retry after {retry_after:g}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Page:
    """One validated page of `GET /leads`."""

    leads: list[dict[str, t.Any]]
    total: int
    next_cursor: str | None


def describe_error_response(response: requests.Response) -> str:
    """Summarise an error response from MEGA's envelope, without headers or secrets.

    The SDK's default message appends every header and the raw body; ours keeps the
    status, the envelope's type and message, and the path (the query never carries
    the token, which only travels in the Authorization header).
    """
    summary = f"{response.status_code} {response.reason or ''}".strip()
    try:
        error = response.json()["error"]
        detail = f"{error['type']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        detail = "no MEGA error envelope in the body"
    path = urlparse(response.url).path
    return f"{summary} ({detail}) for GET {path}"


def parse_retry_after(response: requests.Response) -> float:
    """Read `Retry-After` in seconds; a missing or odd value falls back to 1 second.

    The docs only show seconds, so an HTTP-date form is treated as unparseable.
    """
    raw = response.headers.get("Retry-After", "")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return 1.0


def read_page_body(response: requests.Response) -> Page:
    """Check a 200 body against the documented shape and return it as a Page.

    An empty or half-formed body must never pass for "no more leads": that would
    end a sync early and silently.
    """
    try:
        body = response.json()
    except ValueError as exc:
        msg = f"MEGA returned a 200 whose body is not JSON for GET {urlparse(response.url).path}"
        raise MegaResponseError(msg) from exc
    if not isinstance(body, dict):
        msg = "MEGA returned a 200 whose body is not a JSON object"
        raise MegaResponseError(msg)
    missing = [key for key in PAGE_KEYS if key not in body]
    if missing:
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
    return Page(leads=leads, total=total, next_cursor=cursor)


class NextCursorPaginator(BaseAPIPaginator[str | None]):
    """Follows `next_cursor` until it is null, refusing any cursor seen before.

    The SDK only catches a cursor equal to the one before it; a cycle such as
    A, B, A would otherwise page forever and burn the hourly budget.
    """

    def __init__(
        self, read_page: Callable[[requests.Response], Page], start: str | None = None
    ) -> None:
        """Start on the first page (no cursor), or on `start`, a cursor saved earlier."""
        super().__init__(start)
        self._read_page = read_page
        self._seen: set[str] = {start} if start else set()

    def has_more(self, response: requests.Response) -> bool:
        """Stop exactly when the API says so, with no extra request."""
        return self._read_page(response).next_cursor is not None

    def get_next(self, response: requests.Response) -> str | None:
        """Hand back the next cursor, once only."""
        cursor = self._read_page(response).next_cursor
        if cursor is not None:
            if cursor in self._seen:
                msg = (
                    f"MEGA returned a next_cursor already followed in this sync "
                    f"(page {self.count}): stopping instead of paging in a loop"
                )
                raise MegaResponseError(msg)
            self._seen.add(cursor)
        return cursor


class MegaStream(RESTStream[str | None]):
    """Base stream for MEGA's REST API."""

    #: Seconds of the first retry wait; doubled per try, capped. Tests shrink it.
    retry_wait_base: float = 1.0

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up a per-stream cache so each body is parsed once per response."""
        super().__init__(*args, **kwargs)
        #: The last response read and its page: pages are read one at a time.
        self._last_page: tuple[requests.Response, Page] | None = None
        self.pacer = Pacer(
            reserve=int(self.config.get("rate_limit_reserve", 0)),
            max_wait=float(self.config.get("max_wait_seconds", DEFAULT_MAX_WAIT_SECONDS)),
            sleep=self.sleep,
            logger=self.logger,
        )

    @property
    def url_base(self) -> str:
        """The API root; the emulator's URL in tests."""
        return str(self.config.get("api_url", "https://app.gomega.ai")).rstrip("/")

    @property
    def requests_session(self) -> requests.Session:
        """A session that reads the proxy and CA-bundle variables once, at its start.

        Overridden because `requests` re-reads every proxy variable three times per
        request (every request here goes to `api_url`, so the answer cannot change),
        and the SDK's `send` never applies `REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE`.
        """
        session = super().requests_session
        if session.trust_env:
            settings = session.merge_environment_settings(self.url_base, {}, None, None, None)
            session.proxies, session.verify = settings["proxies"], settings["verify"]
            session.trust_env = False
            if isinstance(session.verify, str) and not Path(session.verify).exists():
                msg = (
                    "the CA bundle named by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE does "
                    f"not exist: {session.verify}"
                )
                raise MegaError(msg)
        return session

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        """Bearer token: the token travels only in this header."""
        return BearerTokenAuthenticator(token=self.config["token"])

    @property
    def http_headers(self) -> dict[str, str]:
        """Every request names the customer it acts on."""
        return {
            "User-Agent": self.user_agent,
            "Accept": "application/json",
            "x-customer-id": self.config["customer_id"],
        }

    @property
    def user_agent(self) -> str:
        """Identify the tap to MEGA, so its support can tell our traffic apart."""
        return USER_AGENT

    @property
    def timeout(self) -> int:
        """Seconds per request, from `request_timeout`, rounded up.

        The SDK types it as whole seconds; truncating would turn 0.5 into 0,
        which urllib3 refuses with a traceback.
        """
        return math.ceil(float(self.config.get("request_timeout", 60)))

    def sleep(self, seconds: float) -> None:
        """Every rate-limit wait goes through here, so tests can keep time.

        Retry waits do not: the `backoff` library sleeps on its own.
        """
        time.sleep(seconds)

    def read_page(self, response: requests.Response) -> Page:
        """Parse and validate a body once, however many callers ask for it.

        A strong reference to the last response, not a weak-keyed cache: the
        cache's clean-up callback ran during requests, where a SIGTERM stopping the
        run was swallowed by the callback and printed as a traceback.
        """
        if self._last_page is not None and self._last_page[0] is response:
            return self._last_page[1]
        page = read_page_body(response)
        self._last_page = (response, page)
        return page

    def get_new_paginator(self, start: str | None = None) -> NextCursorPaginator:
        """Keyset paging on `next_cursor`, MEGA's preferred method; `start`: a saved cursor."""
        return NextCursorPaginator(self.read_page, start=start)

    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        """Yield the page's leads from the validated body."""
        yield from self.read_page(response).leads

    def validate_response(self, response: requests.Response) -> None:
        """Map MEGA's statuses to what the tap should do about them.

        Overridden because the SDK treats 429 as fatal and puts every header and
        the raw body into its error text.
        """
        status = response.status_code
        # Every response, error or not, tells the pacer where the budget stands.
        self.pacer.observe(status, response.headers)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            raise RateLimitedError(parse_retry_after(response))
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(describe_error_response(response), response)
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            raise MegaAuthError(self.auth_failure_message(response))
        if status >= HTTPStatus.BAD_REQUEST:
            msg = f"MEGA rejected the request: {describe_error_response(response)}"
            raise MegaRequestError(msg)
        self.read_page(response)

    def auth_failure_message(self, response: requests.Response) -> str:
        """Say which setting to check; the token itself is never shown."""
        detail = describe_error_response(response)
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            return (
                f"MEGA did not accept the credentials ({detail}): check that `token` "
                "is a current MEGA personal access token and that `customer_id` is set"
            )
        return (
            f"MEGA refused access ({detail}): check that `customer_id` is the "
            "token's customer and that the token has the public_api:leads:read scope"
        )

    def _request(
        self,
        prepared_request: requests.PreparedRequest,
        context: Context | None,
    ) -> requests.Response:
        """Send one request when the budget allows, waiting out 429s without spending a try."""
        while True:
            try:
                self.pacer.wait_for_turn()
            except ReserveTooLargeError as exc:
                raise MegaError(str(exc)) from exc
            try:
                return super()._request(prepared_request, context)
            except RateLimitedError as exc:
                self.pacer.note_rate_limited(exc.retry_after)

    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """Retry transient failures, logging each retry once, in our words.

        Overridden because the SDK also hands `backoff` its logger, which logs every
        retry a second time with the raw exception.
        """
        return backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(func)

    def backoff_wait_generator(self) -> Generator[float, None, None]:
        """Exponential waits from `retry_wait_base`, capped at a minute.

        The SDK's default gives up after about 30 seconds, shorter than a typical
        MEGA deploy or gateway blip.
        """
        return backoff.expo(
            base=2, factor=self.retry_wait_base, max_value=RETRY_MAX_WAIT_SECONDS
        )

    def backoff_jitter(self, value: float) -> float:
        """Up to a quarter more, never less: the SDK adds a whole second to any wait."""
        return value * (1 + random.uniform(0, 0.25))  # noqa: S311

    def backoff_max_tries(self) -> int:
        """Eight tries: about two minutes of waiting before the run gives up."""
        return RETRY_MAX_TRIES

    def backoff_handler(self, details: Details) -> None:
        """One WARNING line per retry, naming the failure and never the request."""
        exc = details.get("exception")
        if isinstance(exc, RetriableAPIError):
            reason = str(exc)
        else:
            reason = f"{type(exc).__name__}" if exc is not None else "unknown error"
        self.logger.warning(
            "Retrying in %.1fs (try %d of %d) after %s",
            details.get("wait", 0.0),
            details.get("tries", 0),
            RETRY_MAX_TRIES,
            reason,
        )

