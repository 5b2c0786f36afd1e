"""A person drives, playerruns records: ``recorder`` (episodes into run files), ``input_sources``
(gamepad, keyboard, scripted driver), ``keys`` (start and stop keys), ``trackmania`` (the game's
recording interfaces) and ``session`` (the ``--record-episode`` command)."""

__all__ = ["recorder", "input_sources", "keys", "trackmania", "session"]
