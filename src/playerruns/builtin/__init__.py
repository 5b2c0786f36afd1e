"""The experiment on the built-in default, apart from the library (which never imports it):
``envs`` (tasks paced like a game, and a worker held to the trainer through its statistics),
``tasks`` (tasks, hyper-parameters, drivers, arms and lever presets), ``harness`` (an arm trained
through tmrl's roles and evaluated), ``curves`` (the figures of a whole learning curve), ``report``
(figures, table and plot) and ``demo`` (``--demo``)."""

__all__ = ["envs", "tasks", "harness", "curves", "report", "demo"]
