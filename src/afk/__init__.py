"""afk: the away-from-keyboard control plane for autonomous coding agents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("afk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
