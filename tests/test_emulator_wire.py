"""The emulator's wire readings and faults, over a real socket with raw HTTP (no tap)."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import subprocess

import pytest
import requests

from tap_mega.testing.emulator import LEADS_PATH, Fault, MegaEmulator, RateWindow
from tests.helpers.emulator_cli import CLI, DEMO_AUTH, emulator_cli
from tests.helpers.emulator_raw import auth, fetch, raw_get


@pytest.fixture
def emu():
    with MegaEmulator(n_leads=150, seed=3, rate_windows=[RateWindow(60, 60)]) as server:
        yield server


def raw_exchange(emu: MegaEmulator, extra_headers: str = "") -> bytes:
    """Bytes of one response as they come off the socket, until the server closes."""
    request = (
        f"GET {LEADS_PATH}?limit=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {emu.token}\r\nx-customer-id: {emu.customer_id}\r\n"
        f"{extra_headers}\r\n"
    )
    with socket.create_connection((emu.host, emu.port), timeout=10) as conn:
        conn.sendall(request.encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_short_body_stops_before_its_content_length(emu):
    emu.add_fault(Fault("short_body", at_request=1))
    response, conn = raw_get(emu, "limit=100")
    promised = int(response.getheader("Content-Length") or 0)

    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    conn.close()

    assert response.status == 200
    assert 0 < len(caught.value.partial) < promised
    assert fetch(emu, {"limit": 100})[0] == 200, "the next request is served whole"


def test_reset_cuts_the_body_with_a_tcp_reset(emu):
    emu.add_fault(Fault("reset", at_request=1))
    response, conn = raw_get(emu, "limit=100")

    with pytest.raises(ConnectionResetError):
        response.read()
    conn.close()

    assert response.status == 200
    assert emu.requests[0].status == 200


def test_gzip_for_clients_that_accept_it():
    with MegaEmulator(n_leads=150, seed=3, rate_windows=[], gzip=True) as emu:
        zipped = fetch(emu, {"limit": 100}, {"Accept-Encoding": "gzip, deflate"})
        plain = fetch(emu, {"limit": 100})

    assert zipped[1]["Content-Encoding"] == "gzip"
    page = json.loads(gzip.decompress(zipped[2]))
    assert len(page["leads"]) == 100
    assert int(zipped[1]["Content-Length"]) == len(zipped[2]) < len(plain[2])
    assert "Content-Encoding" not in plain[1]
    assert json.loads(plain[2]) == page


def test_chunked_transfer_encoding():
    with MegaEmulator(n_leads=150, seed=3, rate_windows=[], chunked=True) as emu:
        raw = raw_exchange(emu)
        status, headers, body = fetch(emu, {"limit": 100})

    head, _, framed = raw.partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in head
    assert b"Content-Length" not in head
    assert framed.endswith(b"\r\n0\r\n\r\n")
    assert framed.count(b"\r\n") > 4, "a page spans several chunks"
    assert status == 200
    assert headers["Transfer-Encoding"] == "chunked"
    assert len(json.loads(body)["leads"]) == 100


def test_gzip_and_chunked_together_cut_short():
    with MegaEmulator(n_leads=150, seed=3, rate_windows=[], gzip=True, chunked=True) as emu:
        emu.add_fault(Fault("short_body", at_request=1))
        response, conn = raw_get(emu, "limit=100", {"Accept-Encoding": "gzip"})
        with pytest.raises(http.client.IncompleteRead):
            response.read()
        conn.close()

    assert response.getheader("Content-Encoding") == "gzip"
    assert response.getheader("Transfer-Encoding") == "chunked"


def test_not_json_is_a_200_carrying_a_proxy_page(emu):
    emu.add_fault(Fault("not_json", at_request=1))
    status, headers, body = fetch(emu)

    assert status == 200
    assert headers["Content-Type"] == "text/html"
    assert body.startswith(b"<html>")
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert headers["RateLimit-Remaining"] == "60", "a front end's page spends no budget"


def test_unsorted_page_is_served_in_reverse_and_the_walk_goes_on(emu):
    emu.add_fault(Fault("unsorted", at_request=1))
    status, headers, body = fetch(emu, {"limit": 50})
    page = json.loads(body)
    rest = json.loads(fetch(emu, {"limit": 100, "cursor": page["next_cursor"]})[2])

    stamps = [lead["updated_at"] for lead in page["leads"]]
    assert status == 200
    assert stamps == sorted(stamps, reverse=True)
    assert stamps != sorted(stamps)
    truth = [lead["id"] for lead in emu.leads]
    assert [lead["id"] for lead in page["leads"]] == truth[:50][::-1]
    assert [lead["id"] for lead in rest["leads"]] == truth[50:]
    assert headers["RateLimit-Remaining"] == "59", "the application served it: budget spent"


def test_cli_scripts_faults_and_wire_readings():
    with emulator_cli(
        "--leads",
        "150",
        "--no-rate-limit",
        "--gzip",
        "--chunked",
        "--fault",
        "status:status=404,html=1,at=1",
        "--fault",
        "status:status=502,html=true,at=2",
    ) as url:
        answers = [
            requests.get(url + LEADS_PATH, params={"limit": 100}, headers=DEMO_AUTH, timeout=10)
            for _ in range(3)
        ]

    assert [a.status_code for a in answers] == [404, 502, 200]
    assert all(a.headers["Content-Type"] == "text/html" for a in answers[:2])
    assert b"<h1>404 Not Found</h1>" in answers[0].content
    assert answers[2].headers["Content-Encoding"] == "gzip"
    assert answers[2].headers["Transfer-Encoding"] == "chunked"
    assert len(answers[2].json()["leads"]) == 100


@pytest.mark.parametrize(
    "value", ["teapot", "status:at=x", "status:colour=red", "body:at=1", "drop"]
)
def test_cli_bad_fault_is_one_line(value):
    completed = subprocess.run(
        [*CLI, "--fault", value], capture_output=True, text=True, timeout=30, check=False
    )

    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    [line] = [line for line in completed.stderr.splitlines() if "error:" in line]
    assert f"argument --fault: bad fault {value!r}: " in line


def test_requests_decodes_what_the_front_end_sends():
    with MegaEmulator(n_leads=150, seed=3, rate_windows=[], gzip=True, chunked=True) as emu:
        served = requests.get(
            emu.url + LEADS_PATH, params={"limit": 100}, headers=auth(emu), timeout=10
        )

    assert served.headers["Content-Encoding"] == "gzip"
    assert [lead["id"] for lead in served.json()["leads"]] == [
        lead["id"] for lead in emu.leads[:100]
    ]


def test_fault_headers_replace_the_usual_ones_and_an_empty_date_sends_none():
    draft = {"RateLimit-Limit": "60, 60;w=60", "Date": ""}
    with MegaEmulator(n_leads=3, rate_windows=[RateWindow(60, 60)]) as emu:
        emu.add_fault(Fault("body", at_request=1, body={"leads": []}, headers=draft))
        emu.add_fault(Fault("rate_limit", at_request=2, headers={"Date": "yesterday"}))
        first = requests.get(emu.url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)
        second = requests.get(emu.url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)
        third = requests.get(emu.url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)

    assert first.json() == {"leads": []}
    assert first.headers["RateLimit-Limit"] == "60, 60;w=60"
    assert "Date" not in first.headers
    assert (second.status_code, second.headers["Date"]) == (429, "yesterday")
    assert third.status_code == 200
    assert third.headers["Date"].endswith(" GMT")
    assert third.headers["RateLimit-Limit"] == "60"


def test_headers_fault_serves_the_real_page_spending_budget():
    with MegaEmulator(n_leads=3, rate_windows=[RateWindow(60, 60)]) as emu:
        emu.add_fault(Fault("headers", at_request=1, headers={"Date": "yesterday"}))
        first = requests.get(emu.url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)
        second = requests.get(emu.url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)

    assert first.json() == second.json()
    assert first.headers["Date"] == "yesterday"
    assert (first.headers["RateLimit-Remaining"], second.headers["RateLimit-Remaining"]) == (
        "59",
        "58",
    )


def test_headers_fault_needs_headers():
    with pytest.raises(ValueError, match="needs headers="):
        Fault("headers", at_request=1)
