"""`python3 dev.py sync` chooses where a sync lands: an emulator is never `dev` (issue 10).

The end-to-end run (a clone, real Meltano) is test_meltano.py's newcomer test;
this is the decision itself, for every shape of environment a shell can hold.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is a script at the root, stdlib only

CREDENTIALS = {"TAP_MEGA_TOKEN": "mega_" + "1" * 64, "TAP_MEGA_CUSTOMER_ID": "x"}


@pytest.mark.parametrize(
    ("env", "plan"),
    [
        ({}, ("demo", "bundled")),
        ({"TAP_MEGA_TOKEN": "mega_x"}, ("demo", "bundled")),
        (CREDENTIALS, ("dev", "mega")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "https://app.gomega.ai"}, ("dev", "mega")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "http://127.0.0.1:8765"}, ("demo", "emulator")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "http://localhost:8765"}, ("demo", "emulator")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "https://127.8.9.10"}, ("demo", "emulator")),
        ({**CREDENTIALS, "TAP_MEGA_API_URL": "https://[::1]:8443/"}, ("demo", "emulator")),
        ({"TAP_MEGA_API_URL": "http://127.0.0.1:8765"}, ("demo", "bundled")),
    ],
    ids=["nothing", "token-only", "credentials", "mega-url", "emulator-export",
         "localhost", "loopback-https", "ipv6-loopback", "url-only"],
)
def test_a_loopback_api_url_is_a_demo_whatever_the_shell_exports(
    env: dict[str, str], plan: tuple[str, str]
) -> None:
    assert dev.sync_plan(env) == plan
