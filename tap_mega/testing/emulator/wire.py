"""What travels on the wire: the API's constants, requests as recorded, responses.

The bottom of the emulator package: every other module may import it, it
imports nothing of the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from email.message import Message

__all__ = [
    "DEMO_CUSTOMER_ID",
    "DEMO_TOKEN",
    "JSON_TYPE",
    "LEADS_PATH",
    "RATE_LIMIT_MESSAGE",
    "READ_SCOPE",
    "ApiError",
    "RecordedRequest",
    "Response",
    "bad",
    "bearer",
    "dumps",
    "error_response",
    "json_response",
    "proxy_page",
    "redacted",
]

#: Well-known demo credentials: printing them is the point of the CLI.
DEMO_TOKEN = "mega_228d1e26c4bb82b8042db88113b7b9db69b60e9a77ca4bbf6a2d57821b560188"  # noqa: S105
DEMO_CUSTOMER_ID = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00"
LEADS_PATH = "/api/agents/crm/leads"
READ_SCOPE = "public_api:leads:read"
RATE_LIMIT_MESSAGE = "Rate limit exceeded. Please retry later."
JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "authorization_error",
    404: "not_found_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
}
_PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class RecordedRequest:
    """What the server saw; the Authorization value is never kept.

    ``status`` is 0 for a dropped connection (no response was sent); ``at``
    is when it arrived, on the emulator's clock (what benchmarks time).
    """

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 0
    at: float = 0.0


class ApiError(Exception):
    """An error the API answers with its documented envelope."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Keep the status and message; the type follows from the status."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad(message: str) -> ApiError:
    """Shorthand for the 400 every validation failure gets."""
    return ApiError(400, message)


@dataclass
class Response:
    """A response to write; ``body is None`` means drop the connection.

    ``cut`` sends only that fraction of the body's wire bytes and then closes
    the connection, with a reset (RST) when ``reset`` is set, else a clean FIN.
    """

    status: int
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    cut: float | None = None
    reset: bool = False


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON, as a production API sends."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """Serialise compactly, as a production API would."""
    return Response(status, dumps(payload), {**JSON_TYPE, **(headers or {})})


def _error_type(status: int) -> str:
    """Map a status to the documented error ``type``."""
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")  # noqa: PLR2004


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Build the one documented error envelope."""
    envelope = {"error": {"type": _error_type(status), "code": status, "message": message}}
    return json_response(status, envelope, headers)


def proxy_page(code: int, reason: str) -> bytes:
    """The HTML page a front end (nginx) serves instead of the API's JSON."""
    return _PROXY_PAGE.format(code=code, reason=reason).encode()


def redacted(headers: Message) -> dict[str, str]:
    """Headers as recorded: the bearer token must never be kept."""
    return {
        name: "<redacted>" if name.lower() == "authorization" else value
        for name, value in headers.items()
    }


def bearer(headers: Message) -> str | None:
    """The presented token, or None when there is no Bearer credential."""
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
