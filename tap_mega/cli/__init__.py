"""The command line and its gate.

`tap-mega` itself, the input files it reads, and the settings checks that
every entry point passes.
"""
