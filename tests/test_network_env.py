"""The proxy and CA-bundle variables a corporate network needs, read once per run."""

from __future__ import annotations

import os
import threading
import typing as t
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.sync import run_sync, tap_config

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

HOP_BY_HOP = {"host", "connection", "proxy-connection", "keep-alive", "transfer-encoding"}


class ForwardingProxy(ThreadingHTTPServer):
    """A plain HTTP proxy: takes absolute-URI requests and forwards them, counting each."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.forwarded: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ProxyHandler(BaseHTTPRequestHandler):
    server: ForwardingProxy

    def do_GET(self) -> None:
        self.server.forwarded.append(self.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            request = urllib.request.Request(self.path, headers=headers)  # noqa: S310 (http only)
            with direct.open(request) as upstream:
                status, upstream_headers, body = upstream.status, upstream.headers, upstream.read()
        except urllib.error.HTTPError as exc:
            status, upstream_headers, body = exc.code, exc.headers, exc.read()
        self.send_response(status)
        for key, value in upstream_headers.items():
            if key.lower() not in HOP_BY_HOP | {"content-length", "server", "date"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    server = ForwardingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_proxy_settings")
def test_http_proxy_from_the_environment_carries_every_request(
    emulator: MegaEmulator, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)

    result = run_sync(tap_config(emulator))

    assert len(result.records) == 250
    assert emulator.request_count == 3
    assert len(proxy.forwarded) == 3
    assert all(path.startswith(emulator.url) for path in proxy.forwarded)


@pytest.mark.usefixtures("no_proxy_settings")
def test_no_proxy_sends_requests_direct(
    emulator: MegaEmulator, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    result = run_sync(tap_config(emulator))

    assert len(result.records) == 250
    assert proxy.forwarded == []


def test_a_missing_ca_bundle_is_one_line_before_any_request(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(tmp_path / "missing.pem")}
    https_url = emulator.url.replace("http://", "https://")

    result = run_cli(tap_config(emulator, api_url=https_url), tmp_path, env=env)

    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if "tap-mega: error:" in line]
    expected = (
        "tap-mega: error: the CA bundle named by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE "
        f"does not exist: {tmp_path / 'missing.pem'}"
    )
    assert error_lines == [expected]
    assert "Traceback" not in result.stderr
    assert emulator.request_count == 0
