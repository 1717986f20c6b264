"""tap-mega: a Singer tap for MEGA (gomega.ai) CRM leads."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tap-mega")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
