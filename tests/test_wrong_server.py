"""An `api_url` that is not MEGA's: a web server's page or 404, a certificate that fails.

Real servers on loopback (Python's own `http.server`, over http and over TLS
with a certificate made here), not the emulator: what answers is what a user
meets when `api_url` points at the wrong host. The sync, `--test` and the
doctor each say so in one line at the first answer, without retrying it.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
import typing as t

import pytest

from tap_mega.testing.emulator import Fault, MegaEmulator
from tests.helpers.airbyte import configured_catalog, source
from tests.helpers.cli import assert_one_line_failure, run_cli
from tests.helpers.doctor import run_doctor
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "mega_" + "a" * 64
CUSTOMER = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00"
LEADS_DIR = ("api", "agents", "crm", "leads")
#: Well under the two minutes a sync's retries take: the answer comes at once.
AT_ONCE_SECONDS = 15


class Site:
    """`python3 -m http.server` in a thread, serving `root`; counts the requests it answers."""

    def __init__(self, root: Path, context: ssl.SSLContext | None = None) -> None:
        self.requests = 0
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *_: t.Any) -> None:
                pass

            def send_response(self, code: int, message: str | None = None) -> None:
                site.requests += 1
                super().send_response(code, message)

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if context else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def config(self) -> dict[str, t.Any]:
        return {
            "token": TOKEN,
            "customer_id": CUSTOMER,
            "api_url": self.url,
            "custom_fields_schema": {},
        }


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[t.Callable[..., Site]]:
    """Start a site: `page=True` puts an HTML page at the leads path, else it is a 404."""
    sites: list[Site] = []

    def start(*, page: bool, context: ssl.SSLContext | None = None) -> Site:
        root = tmp_path / f"site{len(sites)}"
        root.mkdir()
        if page:
            leads = root.joinpath(*LEADS_DIR)
            leads.mkdir(parents=True)
            (leads / "index.html").write_text("<!DOCTYPE html><html><body>Hello</body></html>")
        site = Site(root, context)
        site.thread.start()
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.server.shutdown()
        site.server.server_close()


KINDS = {
    "html-200": (True, "a 200 with an HTML page"),
    "html-404": (False, "a 404 with no MEGA error envelope (an HTML page)"),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mode", [(), ("--test",)], ids=["sync", "test"])
def test_a_web_server_at_api_url_is_a_wrong_api_url_at_once(
    serve: t.Callable[..., Site], tmp_path: Path, kind: str, mode: tuple[str, ...]
) -> None:
    page, says = KINDS[kind]
    site = serve(page=page)
    started = time.monotonic()

    result = run_cli(site.config(), tmp_path, *mode, prelude="")

    assert time.monotonic() - started < AT_ONCE_SECONDS
    line = assert_one_line_failure(
        result.returncode, result.stderr, says, f"{site.url} is not MEGA's API", "check `api_url`"
    )
    assert "Retrying" not in result.stderr
    # One answer (and the redirect to the directory's page, for the 200).
    assert site.requests == (2 if page else 1)
    assert TOKEN not in line


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_doctor_says_wrong_api_url_and_never_credentials_accepted(
    serve: t.Callable[..., Site], tmp_path: Path, kind: str
) -> None:
    page, says = KINDS[kind]
    site = serve(page=page)

    run = run_doctor(site.config(), tmp_path, "--json")

    assert run.returncode == 1
    api = run.line("connection", "api")
    assert api["status"] == "error"
    assert says in api["text"]
    assert "check `api_url`" in api["text"]
    assert run.line("account", "credentials")["status"] == "skipped"
    statuses = run.statuses()
    assert "unexpected" not in statuses.values(), statuses
    assert list(statuses.values()).count("error") == 1
    text = run_doctor(site.config(), tmp_path)
    assert "accepted" not in text.stdout
    assert "unexpected" not in text.stdout


def test_source_mega_says_wrong_api_url_and_that_it_is_the_settings(
    serve: t.Callable[..., Site], tmp_path: Path
) -> None:
    site = serve(page=True)

    check = source(tmp_path, "check", site.config())
    read = source(tmp_path, "read", site.config(), configured_catalog())

    [status] = check.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    assert "is not MEGA's API" in status["connectionStatus"]["message"]
    assert read.returncode == 1
    [error] = read.errors
    assert error["failure_type"] == "config_error"  # the user's move: fix `api_url`
    assert "check `api_url`" in error["message"]
    assert site.requests == 4  # each: the redirect to the page, and the page


def test_json_without_leads_first_is_a_wrong_api_url(tmp_path: Path) -> None:
    with MegaEmulator(n_leads=20, seed=4, rate_windows=[]) as emu:
        emu.add_fault(Fault("body", at_request=1, body={"data": [], "status": "ok"}))
        result = run_cli(tap_config(emu), tmp_path)
        requests = emu.request_count
        emu.add_fault(Fault("body", at_request=2, body={"data": []}))
        run = run_doctor(tap_config(emu), tmp_path, "--json")

    assert_one_line_failure(
        result.returncode,
        result.stderr,
        "is not MEGA's API",
        "JSON that has no `leads`",
        "check `api_url`",
    )
    assert requests == 1
    assert run.line("connection", "api")["status"] == "error"
    assert run.line("account", "credentials")["status"] == "skipped"


def test_after_a_page_a_web_servers_answer_is_still_a_blip(tmp_path: Path) -> None:
    # The same URL served a page: an HTML 200 or 404 now is a front end's, retried.
    with MegaEmulator(n_leads=250, seed=4, rate_windows=[]) as emu:
        emu.add_fault(Fault("not_json", at_request=2))
        emu.add_fault(Fault("status", at_request=4, status=404, html=True))
        result = run_cli(tap_config(emu, page_size=100), tmp_path)
        served = len(emu.leads)

    assert result.returncode == 0, result.stderr
    assert len(result.result.records) == served
    assert "not MEGA's API" not in result.stderr
    assert sum("Retrying in " in line for line in result.stderr.splitlines()) == 2


# --------------------------------------------------------------------------- #
# TLS
# --------------------------------------------------------------------------- #
def test_a_certificate_that_does_not_verify_is_the_tls_lines_error(
    serve: t.Callable[..., Site], tmp_path: Path, self_signed: ssl.SSLContext
) -> None:
    site = serve(page=True, context=self_signed)

    run = run_doctor(site.config(), tmp_path, "--json")

    assert run.returncode == 1
    tls = run.line("connection", "tls")
    assert tls["status"] == "error"
    assert "TLS: the certificate did not verify" in tls["text"]
    assert "REQUESTS_CA_BUNDLE" in tls["text"]
    statuses = run.statuses()
    assert "connection.reach" not in statuses
    assert list(statuses.values()).count("error") == 1
    assert run.line("account", "credentials")["status"] == "skipped"
    assert site.requests == 0


def test_tls_is_ok_once_an_answer_came_through_it(
    serve: t.Callable[..., Site], tmp_path: Path, self_signed: ssl.SSLContext
) -> None:
    # Trusting the certificate: the handshake succeeds, and the page is the web server's.
    site = serve(page=True, context=self_signed)
    env = {"PATH": "/usr/bin:/bin", "REQUESTS_CA_BUNDLE": str(tmp_path / "cert.pem")}

    run = run_doctor(site.config(), tmp_path, "--json", env=env)

    tls = run.line("connection", "tls")
    assert tls["status"] == "ok", run.stdout
    assert str(tmp_path / "cert.pem") in tls["text"]
    assert run.line("connection", "api")["status"] == "error"


def test_no_connection_over_https_leaves_tls_untried(tmp_path: Path) -> None:
    config = {"token": TOKEN, "customer_id": CUSTOMER, "api_url": "https://127.0.0.1:9"}

    run = run_doctor(config, tmp_path, "--json")

    assert run.line("connection", "tls")["status"] == "skipped"
    assert run.line("connection", "reach")["text"] == (
        "could not reach MEGA at 127.0.0.1:9 (connection refused)"
    )
    assert list(run.statuses().values()).count("error") == 1
