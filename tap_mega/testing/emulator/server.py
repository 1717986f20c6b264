"""HTTP plumbing: a threading server that hands every request to the emulator.

It knows nothing of MEGA: whatever sits behind it answers ``handle()`` with
a :class:`~tap_mega.testing.emulator.wire.Response`, and this module writes it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from typing_extensions import override

from tap_mega.testing.emulator.transfer import encode, truncated

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message

    from tap_mega.testing.emulator.transfer import Transfer
    from tap_mega.testing.emulator.wire import Response

__all__ = ["Backend", "Server", "serve_in_thread", "shut_down"]


class Backend(Protocol):
    """What the server needs from the emulator behind it."""

    verbose: bool
    transfer: Transfer
    #: Seconds the ``Date`` header is ahead of this machine's clock (negative: behind).
    date_offset: float

    def handle(self, method: str, raw_path: str, headers: Message) -> Response:
        """Decide the response to one request."""
        ...


class Server(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can cut idle keep-alives."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Backend) -> None:
        """Bind immediately so the port is known."""
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    @override
    def handle_error(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: Any,
    ) -> None:
        """Clients that hang up (timeouts, dropped faults) are normal, not errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands every method to the emulator and writes what it decides."""

    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks need throughput
    # Headers and body are separate writes; with Nagle on, each response
    # would wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "MegaEmulator/1.0"
    timeout = 120

    @override
    def version_string(self) -> str:
        """No Python version in the Server header, as a production API."""
        return self.server_version

    _date: str | None = None

    @override
    def send_header(self, keyword: str, value: str) -> None:
        """Send a header; the server's own ``Date`` gives way to a scripted one."""
        if keyword == "Date" and self._date is not None:
            if self._date:
                super().send_header(keyword, self._date)
            return
        super().send_header(keyword, value)

    @override
    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, on the server's clock: ``date_offset`` plays a skewed one."""
        moment = time.time() if timestamp is None else timestamp
        return super().date_time_string(moment + self._server().emulator.date_offset)

    @override
    def setup(self) -> None:
        """Register the connection for shutdown."""
        super().setup()
        server = self._server()
        with server.connections_lock:
            server.connections.add(self.connection)

    @override
    def finish(self) -> None:
        """Forget the connection."""
        server = self._server()
        with server.connections_lock:
            server.connections.discard(self.connection)
        super().finish()

    def _server(self) -> Server:
        """The typed server (``self.server`` is typed as a BaseServer)."""
        server = self.server
        if not isinstance(server, Server):  # pragma: no cover - wiring error
            raise TypeError(type(server))
        return server

    def _dispatch(self) -> None:
        """Serve one request of any method."""
        self._drain_body()
        response = self._server().emulator.handle(self.command, self.path, self.headers)
        if response.body is None:
            self.close_connection = True  # "drop": no status line, just EOF
            return
        backend = self._server().emulator
        encoded = encode(response.body, backend.transfer, self.headers.get("Accept-Encoding"))
        # A scripted Date replaces the server's own; an empty one sends none.
        self._date = response.headers.pop("Date", None)
        self.send_response(response.status)
        for name, value in {**response.headers, **encoded.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self._date = None
        if self.command == "HEAD":
            return
        if response.cut is None:
            self.wfile.write(encoded.wire)
            return
        self.wfile.write(truncated(encoded.wire, response.cut))
        self.close_connection = True
        if response.reset:
            self._reset()

    def _reset(self) -> None:
        """Abort the connection: with a zero linger time, closing sends RST, not FIN.

        The socket really closes when the handler's files let go of it, before
        the server's ``shutdown(SHUT_WR)``, which would send a FIN first.
        """
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _drain_body(self) -> None:
        """Read a request body so the keep-alive stream stays in sync."""
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            self.rfile.read(int(length))
        elif self.headers.get("Transfer-Encoding"):
            self.close_connection = True

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Route every ``do_<VERB>`` to the emulator.

        Any verb, even an unknown one, then gets the API's JSON 405/404
        envelope instead of http.server's HTML 501 page.
        """
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    @override
    def log_message(self, format: str, *args: object) -> None:
        """Silent unless verbose: per-request lines would drown test output."""
        if self._server().emulator.verbose:
            super().log_message(format, *args)


def serve_in_thread(server: Server, name: str) -> threading.Thread:
    """Serve in a daemon thread until :func:`shut_down`."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


def shut_down(server: Server, thread: threading.Thread | None) -> None:
    """Stop serving and cut open keep-alive connections."""
    server.shutdown()
    with server.connections_lock:
        for conn in list(server.connections):
            with contextlib.suppress(OSError):  # already closed by the peer
                conn.shutdown(socket.SHUT_RDWR)
    server.server_close()
    if thread is not None:
        thread.join(timeout=5)
