"""What the tests share: ways to run the tap, the doctor and the emulator, and read what they print.

Test files import from here, never from each other or from conftest.py, which
keeps only fixtures and hooks.
"""
