"""playerruns: bootstrap tmrl training with human-driven player runs.

The core (run files, safe loading, validation, dataset import) works on plain data; everything
that imports tmrl lives in ``playerruns.tmrl_bridge``.
"""

__version__ = "0.1.0"
