"""A rollout worker that sends its samples and takes new weights inside an episode
(``PLAYER_RUNS.WORKER_SYNC_STEPS``).

tmrl's ``RolloutWorker.run`` sends the episode's samples when the episode ends and takes the latest weights
then: with 1,000-step episodes the trainer learns from a step up to 1,000 steps after it was driven, and the
worker drives weights up to an episode old. Measured on MiniTrack (docs/warmup.md), that lag is what makes the
agent leave the player's line through the real roles where the same learner without it keeps it.

With ``sync_steps`` > 0, every ``sync_steps`` training steps inside an episode the worker sends what it has
(tmrl's own ``send_and_clear_buffer``, through tmrl's server, as at an episode's end) and takes the newest
weights the server holds (tmrl's ``update_actor_weights``, non-blocking). The path a sample takes is unchanged;
only when it leaves. tmrl's memories take an episode in several buffers by design (tmrl's own
``run_synchronous`` sends mid-episode), and the buffer's episode statistics (``stat_train_return``) are those of
the last finished episode until the next one ends, as they are between tmrl's own sends. Test episodes are
never cut. A recurrent policy keeps its hidden state: tmrl loads the weights into the same actor.
"""

from __future__ import annotations

from typing import Any


class SyncingWorker:
    """Mixin over tmrl's ``RolloutWorker`` (or a subclass of it): see the module docstring."""

    def __init__(self, *args: Any, sync_steps: int, **kwargs: Any) -> None:
        if sync_steps < 1:
            raise ValueError(f"sync_steps must be >= 1, got {sync_steps}")
        super().__init__(*args, **kwargs)  # tmrl's RolloutWorker, next in the class's order
        self.sync_steps = sync_steps
        self._since_sync = 0
        self.mid_episode_sends = 0  # buffers sent inside an episode
        self.mid_episode_weights = 0  # weight sets taken inside an episode

    def reset(self, collect_samples: bool) -> Any:
        self._since_sync = 0
        return super().reset(collect_samples)  # type: ignore[misc]

    def step(self, obs: Any, test: bool, collect_samples: bool, last_step: bool = False) -> Any:
        new_obs, rew, terminated, truncated, info = super().step(  # type: ignore[misc]
            obs, test, collect_samples, last_step=last_step)
        if collect_samples:
            self._since_sync += 1
            # at the episode's end tmrl's own loop sends and takes weights: not twice
            if self._since_sync >= self.sync_steps and not (terminated or truncated or last_step):
                self._since_sync = 0
                self.send_and_clear_buffer()  # type: ignore[attr-defined]
                self.mid_episode_weights += int(self.update_actor_weights(verbose=False))  # type: ignore[attr-defined]
                self.mid_episode_sends += 1
        return new_obs, rew, terminated, truncated, info


def syncing_worker_cls(base: type) -> type:
    """``base`` (tmrl's RolloutWorker or a subclass) with ``SyncingWorker`` mixed in."""
    return type(f"Syncing{base.__name__}", (SyncingWorker, base), {})
