"""The trainer side, inside tmrl's roles: ``config`` (the ``PLAYER_RUNS`` section), ``training``
(the training loop with injection and the statistics channel), ``statistics`` (that channel),
``injection`` and ``receiving`` (runs from SOURCE_PATH and from the server), ``sampling``,
``memories``, ``windows`` and ``sequences`` (demo-weighted replay), ``demo_sac`` and
``recurrent_sac`` (the agents), ``critics`` (LayerNorm critics), ``best`` (the best policy kept),
``evaluation`` (the trainer's own evaluation), ``console`` (one line per epoch), ``sinks`` (the statistics
channel to TensorBoard and wandb), ``worker_sync`` (a worker that sends and takes weights inside an episode),
``roles`` (tmrl's roles from the current config).
Importing this package does not import tmrl; its modules do."""

__all__ = ["config", "training", "statistics", "injection", "receiving", "sampling", "memories", "windows",
           "sequences", "demo_sac", "recurrent_sac", "critics", "best", "evaluation", "console", "sinks", "worker_sync",
           "roles"]
