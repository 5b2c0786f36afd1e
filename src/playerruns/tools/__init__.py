"""The run tools: ``inspection`` (``--inspect``), ``plotting`` (``--plot``), ``rewards``
(``--reward-from-run``, ``--relabel-rewards``), ``minari_io`` (``--export-minari``,
``--import-minari``) and ``synthetic`` (runs made without a person, for tests and benchmarks)."""

__all__ = ["inspection", "plotting", "rewards", "minari_io", "synthetic"]
