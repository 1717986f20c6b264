"""`python -m tap_mega.fleet`: the fleet command (`python3 dev.py fleet` runs this)."""

import sys

from tap_mega.fleet.command import main

sys.exit(main())
