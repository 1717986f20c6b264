"""``python -m tap_mega.testing.emulator``: the demo server."""

import sys

from tap_mega.testing.emulator.cli import main

sys.exit(main())
