"""The run tools: ``inspection`` (``--inspect``), ``plotting`` (``--plot``), ``training_plot``
(``--plot-training``), ``rewards``
(``--reward-from-run``, ``--relabel-rewards``), ``minari_io`` (``--export-minari``,
``--import-minari``) and ``synthetic`` (runs made without a person, for tests and benchmarks)."""

__all__ = ["inspection", "plotting", "training_plot", "rewards", "minari_io", "synthetic"]
