"""`python -m tap_mega` runs the tap."""

from tap_mega.cli import main

main()
