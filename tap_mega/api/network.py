"""What went wrong on the way to MEGA, in a user's words: the host, the cause, the advice.

`requests` wraps a refused connection three levels deep and names only its own
class (`ConnectionError`), so a user learned neither the host nor whether the
name did not resolve, the port was closed or a certificate did not verify. Each
cause here is one of those a user can act on, and says whether retrying can
help: a name that does not resolve, or a certificate that does not verify,
stays so for the whole run, so the run fails at once with advice.
"""

from __future__ import annotations

import socket
import ssl
import typing as t
from dataclasses import dataclass
from http.client import IncompleteRead, RemoteDisconnected
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_mega.errors import MegaError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

TLS_ADVICE = (
    "if a proxy or gateway on your network re-signs TLS, point REQUESTS_CA_BUNDLE "
    "at your organisation's CA bundle; otherwise check `api_url`"
)


@dataclass(frozen=True)
class Cause:
    """Why a request failed: in a few words, and whether a retry can cure it."""

    text: str
    #: Retrying cannot help: fail at once.
    final: bool = False
    #: What to do, for a final cause.
    advice: str = ""


class MegaUnreachableError(MegaError):
    """MEGA could not be reached: the host, the cause, and what to do (one line)."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps: causes, contexts, urllib3's `reason`, args."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner += list(getattr(current, "args", ()))
        todo += [item for item in inner if isinstance(item, BaseException)]


def cause_of(exc: BaseException) -> Cause:  # noqa: PLR0911 - one return per cause
    """The cause a user can act on, from the innermost error that names one."""
    chain = list(causes(exc))
    for inner in chain:
        if isinstance(inner, ssl.SSLCertVerificationError):
            detail = inner.verify_message or "certificate verify failed"
            return Cause(f"TLS: the certificate did not verify ({detail})", True, TLS_ADVICE)
        if isinstance(inner, socket.gaierror) or type(inner).__name__ == "NameResolutionError":
            return Cause(
                "DNS: the host name does not resolve", True,
                "check the host in `api_url` (and the machine's DNS)",
            )
    kinds = tuple(type(inner) for inner in chain)
    if issubclass_any(kinds, ConnectionRefusedError):
        return Cause("connection refused")
    if issubclass_any(kinds, requests.exceptions.Timeout, TimeoutError, socket.timeout):
        return Cause("timed out")
    if issubclass_any(kinds, ConnectionResetError):
        return Cause("connection reset")
    if issubclass_any(kinds, ssl.SSLError):
        return Cause("TLS: the handshake failed")
    if issubclass_any(kinds, RemoteDisconnected):
        return Cause("connection closed without a response")
    if issubclass_any(kinds, IncompleteRead, requests.exceptions.ChunkedEncodingError):
        return Cause("the response was cut short")
    return Cause(f"connection failed ({type(exc).__name__})")


def issubclass_any(kinds: tuple[type, ...], *bases: type) -> bool:
    """Whether any of `kinds` is one of `bases`."""
    return any(issubclass(kind, bases) for kind in kinds)


def host_of(exc: BaseException, default_url: str) -> str:
    """`host[:port]` the failed request went to; `default_url`'s when it names none."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or default_url
    parsed = urlparse(str(url))
    host = parsed.hostname or str(url)
    return f"{host}:{parsed.port}" if parsed.port else host


def unreachable(
    exc: BaseException, default_url: str, tries: int, timeout: str = "`request_timeout`"
) -> MegaUnreachableError:
    """The one line for a request that failed for good: host, cause, and what next.

    `tries` is 1 for a caller that sends once (the doctor): no retries to speak of.
    `timeout`: how long each answer was waited for, in words.
    """
    host = host_of(exc, default_url)
    cause = cause_of(exc)
    if cause.final:
        return MegaUnreachableError(f"could not reach MEGA at {host}: {cause.text}; {cause.advice}")
    gave_up = f", giving up after retries ({tries} tries)" if tries > 1 else ""
    if cause.text == "timed out":
        return MegaUnreachableError(
            f"MEGA at {host} did not answer within {timeout}{gave_up}"
        )
    return MegaUnreachableError(f"could not reach MEGA at {host} ({cause.text}){gave_up}")


#: An answer came, but its body was unusable: said in `retry_reason`'s words.
BODY_FAILURES: tuple[type[BaseException], ...] = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

#: What each transport failure means to a user, for the retry's WARNING line.
TRANSPORT_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (requests.exceptions.ChunkedEncodingError, "a body cut short"),
    (requests.exceptions.ContentDecodingError, "a body that would not decompress"),
    (requests.exceptions.Timeout, "no answer within request_timeout"),
    (ConnectionResetError, "a connection reset"),
    (requests.exceptions.ConnectionError, "a connection that failed"),
)


def retry_reason(exc: BaseException | None) -> str:
    """Why a try failed, in words, with the exception's name for a bug report."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, RetriableAPIError):
        return str(exc)
    for kind, words in TRANSPORT_FAILURES:
        if isinstance(exc, kind):
            return f"{words} ({type(exc).__name__})"
    return type(exc).__name__
