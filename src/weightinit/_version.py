"""The version of weightinit (read by the packaging metadata without importing torch)."""

__version__ = "0.1.0"
