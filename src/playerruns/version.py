"""The version of playerruns (its own module: run files stamp it, and nothing it imports imports it)."""

__version__ = "0.1.0"
