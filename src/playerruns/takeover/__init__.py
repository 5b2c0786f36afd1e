"""A person takes the wheel while a rollout worker drives: ``controls`` (when a person holds the take-over and
what they drive: the keyboard in the task's window, a gamepad, or a scripted stand-in that watches the agent),
``trackmania`` (the same in the game: the worker lets go of the car and reads what the person drives from the
OpenPlanet telemetry), ``worker`` (tmrl's rollout worker, driving the person's action for exactly the steps
they hold it and tagging those samples as interventions and demos) and ``saving`` (what the person drove in each
episode, saved as a run file that outlives the training run)."""

__all__ = ["controls", "saving", "trackmania", "worker"]
