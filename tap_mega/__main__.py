"""`python -m tap_mega` runs the tap."""

from tap_mega.cli.main import main

main()
