"""The SDK's standard tap tests, against a live emulator."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from tap_mega.tap import TapMega
from tap_mega.testing.emulator import MegaEmulator

# The standard suite takes its config when the class is built, at import time,
# so this module's emulator starts then and stops when the test process ends.
_EMULATOR = MegaEmulator(n_leads=120, seed=11, rate_windows=[]).start()
atexit.register(_EMULATOR.stop)

TestTapMega = get_tap_test_class(
    tap_class=TapMega,
    config={
        "token": _EMULATOR.token,
        "customer_id": _EMULATOR.customer_id,
        "api_url": _EMULATOR.url,
        "page_size": 50,
    },
)
