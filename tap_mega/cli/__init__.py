"""The command line and its gate: `tap-mega`, its input files, the settings checks."""
