"""What went wrong on the way to MEGA, in a user's words: the host, the cause, the advice.

`requests` names only its own class. A name that does not resolve or a certificate that
does not verify stays so for the whole run: that fails at once, with advice.
"""

from __future__ import annotations

import socket
import ssl
import typing as t
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
#: Causes a retry may cure, by the class of any error in the chain, first match wins.
PASSING_CAUSES: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((ConnectionRefusedError,), "connection refused"),
    ((requests.exceptions.Timeout, TimeoutError), "timed out"),
    ((ConnectionResetError,), "connection reset"),
    ((ssl.SSLError,), "TLS: the handshake failed"),
    ((RemoteDisconnected,), "connection closed without a response"),
    ((IncompleteRead, requests.exceptions.ChunkedEncodingError), "the response was cut short"),
)
#: An answer came, but its body was unusable: what a retry's WARNING calls it.
BODY_FAILURES: dict[type[Exception], str] = {
    requests.exceptions.ChunkedEncodingError: "a body cut short",
    requests.exceptions.ContentDecodingError: "a body that would not decompress",
}
#: Failures of the network, not of MEGA: retried, then told as host and cause.
NETWORK_FAILURES: tuple[type[Exception], ...] = (
    ConnectionResetError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    *BODY_FAILURES,
)


class Cause(t.NamedTuple):
    """Why a request failed, and whether a retry can cure it."""

    text: str
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


def cause_of(exc: BaseException) -> Cause:
    """The cause a user can act on, from the innermost error that names one."""
    chain = list(causes(exc))
    for inner in chain:
        if isinstance(inner, ssl.SSLCertVerificationError):
            detail = inner.verify_message or "certificate verify failed"
            return Cause(f"TLS: the certificate did not verify ({detail})", True, TLS_ADVICE)
        if isinstance(inner, socket.gaierror):
            advice = "check the host in `api_url` (and the machine's DNS)"
            return Cause("DNS: the host name does not resolve", True, advice)
    for bases, text in PASSING_CAUSES:
        if any(isinstance(inner, bases) for inner in chain):
            return Cause(text)
    return Cause(f"connection failed ({type(exc).__name__})")


def host_of(exc: BaseException, default_url: str) -> str:
    """`host[:port]` the failed request went to; `default_url`'s when it names none."""
    url = getattr(getattr(exc, "request", None), "url", None) or default_url
    parsed = urlparse(str(url))
    host = parsed.hostname or str(url)
    return f"{host}:{parsed.port}" if parsed.port else host


def unreachable(
    exc: BaseException, default_url: str, tries: int, timeout: str
) -> MegaUnreachableError:
    """The one line for a request that failed for good; `tries` is 1 in the doctor."""
    host = host_of(exc, default_url)
    cause = cause_of(exc)
    if cause.final:
        return MegaUnreachableError(f"could not reach MEGA at {host}: {cause.text}; {cause.advice}")
    gave_up = f", giving up after retries ({tries} tries)" if tries > 1 else ""
    if cause.text == "timed out":
        return MegaUnreachableError(f"MEGA at {host} did not answer within {timeout}{gave_up}")
    return MegaUnreachableError(f"could not reach MEGA at {host} ({cause.text}){gave_up}")


def retry_reason(exc: BaseException) -> str:
    """Why a try failed, for the retry's WARNING line."""
    if isinstance(exc, RetriableAPIError):
        return str(exc)
    for kind, words in BODY_FAILURES.items():
        if isinstance(exc, kind):
            return f"{words} ({type(exc).__name__})"
    return cause_of(exc).text  # no answer: refused, timed out, reset, DNS, TLS
