"""HTTP to MEGA: auth, headers, pacing, retries, and `fetch_page`, the one way to get a page."""

from __future__ import annotations

import logging
import math
import random
import sys
import time
import typing as t
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlparse

import backoff
from singer_sdk import RESTStream, metrics
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_mega import __version__
from tap_mega.api.network import NETWORK_FAILURES, cause_of, host_of, retry_reason, unreachable
from tap_mega.api.pages import NextCursorPaginator, Page, read_page_body
from tap_mega.api.responses import describe_error_response, envelope, not_mega, parse_retry_after
from tap_mega.budget.pacer import Pacer
from tap_mega.errors import (
    MegaAuthError,
    MegaError,
    MegaRequestError,
    NotMegaError,
    RateLimitedError,
    failure_line,
)
from tap_mega.sdk_contract import SDK_UNHANDLED_ERROR
from tap_mega.settings import Settings

if t.TYPE_CHECKING:
    from collections.abc import Generator

    import requests
    from backoff.types import Details
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, RequestFunc

USER_AGENT = f"tap-mega/{__version__}"
#: About two minutes of waiting before a sync gives up.
RETRY_MAX_TRIES = 8
#: A connection test (`tap-mega --test`): two tries of at most 10 s stay under 30 s.
CONNECTION_TEST_MAX_TRIES = 2
CONNECTION_TEST_TIMEOUT = 10


class MegaStream(RESTStream[str | None]):
    """Base stream for MEGA's REST API."""

    #: Seconds of the first retry wait; doubled per try, capped. Tests shrink it.
    retry_wait_base: float = 1.0

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        """Drop the SDK's "unhandled error" ERROR beside an explained failure: reads like a bug."""
        failure = sys.exc_info()[1]
        explained = failure is not None and failure_line(failure) is not None
        if not (explained and message.startswith(SDK_UNHANDLED_ERROR)):
            super().log(message, *args, level=level, **kwargs)

    @override
    def __init__(self, tap: Tap, *, connection_test: bool = False) -> None:
        """`connection_test`: `tap-mega --test`, not a sync."""
        super().__init__(tap)
        self.tap = tap
        self.connection_test = connection_test
        self.settings = Settings.from_config(self.config)
        #: The last good page: once there is one, a 404 page is a front end's blip.
        self._last_page: tuple[requests.Response, Page] | None = None
        self.pacer = Pacer(
            reserve=self.settings.rate_limit_reserve,
            max_wait=self.settings.max_wait_seconds,
            sleep=self.sleep,
            logger=self.logger,
        )

    @property
    @override
    def url_base(self) -> str:
        """The API root; the emulator's in tests."""
        return self.settings.api_url

    @property
    @override
    def requests_session(self) -> requests.Session:
        """Proxy and CA variables read once (not 3 times a request), and the CA ones applied."""
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
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        """The token travels only in this header."""
        return BearerTokenAuthenticator(token=self.settings.token)

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        """Every request names the customer it acts on."""
        return {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "x-customer-id": self.settings.customer_id,
        }

    @property
    @override
    def timeout(self) -> int:
        """`request_timeout` rounded up: the SDK's whole seconds would make 0.5 a 0."""
        seconds = math.ceil(self.settings.request_timeout)
        return min(seconds, CONNECTION_TEST_TIMEOUT) if self.connection_test else seconds

    def set_state(self, context: Context | None, key: str, value: t.Any) -> None:
        """Set a key of the stream's state, so that the next STATE is written with it."""
        state = self.get_context_state(context)
        if state.get(key) != value:
            state[key] = value
            self.state_manager.is_flushed = False

    def sleep(self, seconds: float) -> None:
        """Every rate-limit wait (not a retry's) goes through here, so tests can keep time."""
        time.sleep(seconds)

    def read_page(self, response: requests.Response) -> Page:
        """Parse a body once for all callers (a weak-keyed cache's callback ate a SIGTERM)."""
        if self._last_page is None or self._last_page[0] is not response:
            self._last_page = (response, read_page_body(response))
        return self._last_page[1]

    @override
    def get_new_paginator(self, start: str | None = None) -> NextCursorPaginator:
        """`start`: a saved cursor."""
        return NextCursorPaginator(self.read_page, start=start)

    @override
    def validate_response(self, response: requests.Response) -> None:
        """The SDK treats 429 as fatal and puts every header and the body in its error text."""
        status = response.status_code
        self.pacer.observe(status, response.headers)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            raise RateLimitedError(parse_retry_after(response))
        if self._last_page is None and (why := not_mega(response)):
            # Before any page, an answer of the wrong shape means a wrong `api_url`.
            msg = (
                f"{self.url_base} is not MEGA's API: GET {urlparse(response.url).path} got "
                f"{why}; check `api_url` (left unset, the tap uses MEGA's own)"
            )
            raise NotMegaError(msg)
        if status < HTTPStatus.BAD_REQUEST:
            self.read_page(response)
            return
        detail = describe_error_response(response)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(detail, response)
        if status == HTTPStatus.UNAUTHORIZED:
            msg = (
                f"MEGA did not accept the credentials ({detail}): check that `token` "
                "is a current MEGA personal access token and that `customer_id` is set"
            )
            raise MegaAuthError(msg)
        if status == HTTPStatus.FORBIDDEN:
            msg = (
                f"MEGA refused access ({detail}): check that `customer_id` is the "
                "token's customer and that the token has the public_api:leads:read scope"
            )
            raise MegaAuthError(msg)
        if status == HTTPStatus.NOT_FOUND and not envelope(response):
            # A front end's page mid-walk: the same URL just served a page.
            msg = f"MEGA's front end answered {detail}"
            raise RetriableAPIError(msg, response)
        msg = f"MEGA rejected the request: {detail}"
        raise MegaRequestError(msg)

    def fetch_page(
        self,
        context: Context | None,
        cursor: str | None,
        params: dict[str, t.Any] | None = None,
    ) -> requests.Response:
        """One page, paced and retried, its body checked (`read_page(response)`).

        A sync and `check` both come here, so a good check means a sync's first page
        would be too. `params`: the query instead of `get_url_params`'s.
        """
        prepared = self.build_prepared_request(
            method=self.http_method,
            url=self.get_url(context),
            params=self.get_url_params(context, cursor) if params is None else params,
            headers=self.http_headers,
        )
        return self.request_decorator(self.send_try)(prepared, context)

    def send_try(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        """One try, as the SDK's private `_request` sends it; `auth` came with the prepare."""
        response = self.requests_session.send(
            prepared_request, timeout=self.timeout, allow_redirects=self.allow_redirects
        )
        tags: dict[str, t.Any] = {
            metrics.Tag.STREAM: self.name,
            metrics.Tag.ENDPOINT: self.path,
            metrics.Tag.HTTP_STATUS_CODE: response.status_code,
            metrics.Tag.STATUS: metrics.Status.SUCCEEDED if response.ok else metrics.Status.FAILED,
        }
        if context:
            tags[metrics.Tag.CONTEXT] = context
        elapsed = response.elapsed.total_seconds()
        point = metrics.Point("timer", metrics.Metric.HTTP_REQUEST_DURATION, elapsed, tags)
        metrics.log(self.metrics_logger, point)
        self.validate_response(response)
        return response

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Pace every try, and log each retry once: the SDK's `backoff` logger logs it twice.

        `paced` sits inside the retries, so a 429 is waited out without spending a try.
        """

        def paced(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            while True:
                self.pacer.wait_for_turn()
                try:
                    return func(prepared, context)
                except RateLimitedError as exc:
                    self.pacer.note_rate_limited(exc.retry_after)

        retried: RequestFunc = backoff.on_exception(
            self.backoff_wait_generator,
            (RetriableAPIError, *NETWORK_FAILURES),
            max_tries=self.backoff_max_tries,
            giveup=lambda exc: cause_of(exc).final,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(paced)
        return self.told_unreachable(retried)

    def told_unreachable(self, func: RequestFunc) -> RequestFunc:
        """`func`, its final network failure told as one line: the host and the cause."""

        def send(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            try:
                return func(prepared, context)
            except NETWORK_FAILURES as exc:
                waited = "`request_timeout`"
                if self.timeout < self.settings.request_timeout:
                    waited = f"{self.timeout}s (a connection test's limit; a sync waits {waited})"
                raise unreachable(exc, self.url_base, self.backoff_max_tries(), waited) from exc

        return send

    @override
    def backoff_wait_generator(self) -> Generator[float, None, None]:
        """Capped at a minute: the SDK's gives up within 30 s, shorter than a MEGA deploy."""
        return backoff.expo(base=2, factor=self.retry_wait_base, max_value=60)

    @override
    def backoff_jitter(self, value: float) -> float:
        """Up to a quarter more, never less: the SDK adds a whole second to any wait."""
        return value * (1 + random.uniform(0, 0.25))  # noqa: S311

    @override
    def backoff_max_tries(self) -> int:
        """Two in a connection test, so a wrong `api_url` answers within seconds."""
        return CONNECTION_TEST_MAX_TRIES if self.connection_test else RETRY_MAX_TRIES

    @override
    def backoff_handler(self, details: Details) -> None:
        """One WARNING line per retry: the host, the cause and the next wait, never the request."""
        exc = t.cast("BaseException", details.get("exception"))  # `on_exception` sets it
        self.logger.warning(
            "Retrying in %.1fs (try %d of %d) after %s (MEGA at %s)",
            details["wait"],
            details["tries"],
            self.backoff_max_tries(),
            retry_reason(exc),
            host_of(exc, self.url_base),
        )
