"""Network failures are visible and specific: host, cause, next wait; at once when hopeless.

Every server here listens on 127.0.0.1 or is a `.invalid` name (RFC 6761: it
resolves nowhere), so no traffic leaves the machine.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import threading
import time
import typing as t

import pytest

from tests.helpers.cli import assert_one_line_failure, run_cli, run_main

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "mega_" + "ab" * 32
CUSTOMER = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00"
RETRY_LINE = re.compile(
    r"WARNING .*Retrying in [\d.]+s \(try (\d) of (\d)\) after (.+) \(MEGA at (.+)\)"
)


def config(api_url: str, **overrides: t.Any) -> dict[str, t.Any]:
    return {"token": TOKEN, "customer_id": CUSTOMER, "api_url": api_url, **overrides}


def retries(stderr: str) -> list[tuple[str, str, str, str]]:
    """(try, of, cause, host) of every retry WARNING."""
    return [
        t.cast("tuple[str, str, str, str]", m.groups())
        for m in map(RETRY_LINE.search, stderr.splitlines())
        if m
    ]


class LoopbackServer:
    """A TCP server on 127.0.0.1 that counts connections and misbehaves as told."""

    def __init__(self, behaviour: str, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.recv(1024)
                conn.close()
            elif self.behaviour == "tls" and self.tls is not None:
                try:
                    self.tls.wrap_socket(conn, server_side=True).close()
                except (ssl.SSLError, OSError):
                    conn.close()
            else:  # "silent": accept and never answer
                self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def server_factory() -> Iterator[t.Callable[..., LoopbackServer]]:
    started: list[LoopbackServer] = []

    def start(behaviour: str, tls: ssl.SSLContext | None = None) -> LoopbackServer:
        server = LoopbackServer(behaviour, tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_refused_each_retry_names_host_and_cause_and_the_last_line_too(tmp_path: Path) -> None:
    port = closed_port()

    done = run_main(config(f"https://127.0.0.1:{port}"), tmp_path)

    line = assert_one_line_failure(
        done.returncode, done.stderr, f"127.0.0.1:{port}", "connection refused", "8 tries"
    )
    assert done.stderr.rstrip("\n").splitlines()[-1] == line
    assert retries(done.stderr) == [
        (str(k), "8", "connection refused", f"127.0.0.1:{port}") for k in range(1, 8)
    ]


def test_an_explained_failure_in_a_sync_has_no_unhandled_error_line(tmp_path: Path) -> None:
    """The SDK's ERROR "An unhandled error occurred" reads like a bug; the one line explains."""
    port = closed_port()

    # Custom fields declared: no sample, so the failure happens in the sync itself.
    done = run_main(config(f"https://127.0.0.1:{port}", custom_fields_schema={}), tmp_path)

    assert_one_line_failure(done.returncode, done.stderr, "connection refused", "8 tries")
    assert not re.search(r"\|\s*ERROR\s*\|", done.stderr), done.stderr


def test_test_mode_tries_twice_so_a_wrong_url_answers_within_seconds(tmp_path: Path) -> None:
    """Real retry waits here (no fast-retry prelude): what a user running --test sees."""
    port = closed_port()
    started = time.monotonic()

    done = run_cli(config(f"https://127.0.0.1:{port}"), tmp_path, "--test", prelude="")

    elapsed = time.monotonic() - started
    assert_one_line_failure(done.returncode, done.stderr, "connection refused", "2 tries")
    assert retries(done.stderr) == [("1", "2", "connection refused", f"127.0.0.1:{port}")]
    assert elapsed < 15


@pytest.mark.slow  # waits out real timeouts, about 20 s
def test_test_mode_on_a_silent_host_answers_within_30_seconds(
    tmp_path: Path, server_factory: t.Callable[..., LoopbackServer]
) -> None:
    """A host that accepts and never answers: `request_timeout` (60 s) twice was 2 minutes."""
    server = server_factory("silent")
    started = time.monotonic()

    done = run_cli(config(f"http://127.0.0.1:{server.port}"), tmp_path, "--test", prelude="")

    elapsed = time.monotonic() - started
    assert_one_line_failure(
        done.returncode,
        done.stderr,
        f"127.0.0.1:{server.port}",
        "did not answer within 10s",
        "connection test",
        "`request_timeout`",
        "2 tries",
    )
    assert server.connections == 2
    assert elapsed < 30


def test_a_name_that_does_not_resolve_fails_at_once(tmp_path: Path) -> None:
    done = run_main(config("https://mega-api.invalid"), tmp_path)

    line = assert_one_line_failure(
        done.returncode, done.stderr, "mega-api.invalid", "DNS", "does not resolve", "`api_url`"
    )
    assert retries(done.stderr) == []
    assert done.stderr.rstrip("\n").splitlines()[-1] == line


def test_a_silent_server_times_out_on_each_try_with_host_and_cause(
    tmp_path: Path, server_factory: t.Callable[..., LoopbackServer]
) -> None:
    server = server_factory("silent")
    url = f"http://127.0.0.1:{server.port}"

    done = run_main(config(url, request_timeout=1), tmp_path, "--test")

    assert_one_line_failure(
        done.returncode,
        done.stderr,
        f"127.0.0.1:{server.port}",
        "did not answer within",
        "`request_timeout`",
        "2 tries",
    )
    assert retries(done.stderr) == [("1", "2", "timed out", f"127.0.0.1:{server.port}")]
    assert server.connections == 2


def test_a_reset_connection_is_named_as_such(
    tmp_path: Path, server_factory: t.Callable[..., LoopbackServer]
) -> None:
    server = server_factory("reset")

    done = run_main(config(f"http://127.0.0.1:{server.port}"), tmp_path, "--test")

    assert_one_line_failure(done.returncode, done.stderr, "connection reset", "2 tries")
    assert retries(done.stderr) == [("1", "2", "connection reset", f"127.0.0.1:{server.port}")]
    assert server.connections == 2


def test_a_certificate_that_does_not_verify_fails_at_once_pointing_to_the_ca_bundle(
    tmp_path: Path,
    server_factory: t.Callable[..., LoopbackServer],
    self_signed: ssl.SSLContext,
) -> None:
    server = server_factory("tls", self_signed)

    done = run_main(config(f"https://127.0.0.1:{server.port}"), tmp_path)

    line = assert_one_line_failure(
        done.returncode,
        done.stderr,
        f"127.0.0.1:{server.port}",
        "TLS",
        "certificate did not verify",
        "REQUESTS_CA_BUNDLE",
    )
    assert done.stderr.rstrip("\n").splitlines()[-1] == line
    assert retries(done.stderr) == []
    assert server.connections == 1
    assert TOKEN not in done.stderr
