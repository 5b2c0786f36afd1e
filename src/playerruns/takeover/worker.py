"""tmrl's rollout worker with a person who can take the wheel (``PLAYER_RUNS.TAKE_OVER``).

The path a step takes, end to end: tmrl's ``RolloutWorker.step`` asks ``act(obs)`` for the action; here the
policy always computes its action (a recurrent policy's state moves on), and the take-over control is polled;
while the person holds the take-over, their action is returned instead. tmrl applies it, and builds the sample
``(act, new_obs, rew, terminated, truncated, info)`` with it; before tmrl's sample compressor sees the sample,
its ``info`` is tagged ``{"intervention": True, "is_demo": True}`` (and, on a take-over's first step,
``"take_over"``: where on the track it began, as the task says). The sample then travels to the trainer in the
worker's own buffer, through tmrl's server, as every sample does: the trainer's demo index reads the tag, so
sampling, retention and cloning treat these steps as player data, and its statistics count them
(``trainer.memories``).

With ``runs`` (``PLAYER_RUNS.TAKE_OVER_RUNS_PATH``), what the person drove in each episode is also saved as a run
file (``takeover.saving``), so it outlives the training run. Test episodes (``test=True``) are never taken
over. Without a take-over control configured, ``run_role`` starts tmrl's own worker, which sends what it sends
today.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections.abc import Callable
from typing import Any

from playerruns.runs.demos import DEMO_FLAG, INTERVENTION_FLAG, TAKE_OVER_KEY
from playerruns.takeover.controls import TakeOverControl, person_action
from playerruns.takeover.saving import TakeOverRuns

log = logging.getLogger(__name__)

ControlFactory = Callable[[Any], TakeOverControl]  # the worker's environment -> the control


class TakeOverWorker:
    """Mixin over tmrl's ``RolloutWorker`` (or a subclass of it): see the module docstring.

    ``control_factory`` builds the control from the worker's environment (a window needs its ``render``);
    ``step_seconds`` paces the steps for a person (0: as fast as the task goes; rtgym paces TrackMania);
    ``runs`` saves what the person drives as run files (None: not saved).
    """

    env: Any
    actor: Any
    get_local_buffer_sample: Any

    def __init__(self, *args: Any, control_factory: ControlFactory, step_seconds: float = 0.0,
                 runs: TakeOverRuns | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # tmrl's RolloutWorker, next in the class's order
        self.control = control_factory(self.env)
        self.step_seconds = step_seconds
        self.runs = runs
        if runs is not None:
            atexit.register(runs.close)  # a worker stopped mid-episode (Ctrl+C) still saves what the person drove
        self._compress = self.get_local_buffer_sample
        self.get_local_buffer_sample = self._tagged_sample
        self._last_info: dict[str, Any] = {}
        self._driving = False  # the person drives the step being taken
        self._began = False  # ... and it is the first step of a take-over
        self._deadline = 0.0
        self.episode_steps = self.person_steps = self.take_overs = 0
        self.total_steps = self.total_person_steps = self.total_take_overs = 0  # over all training episodes

    def reset(self, collect_samples: bool) -> Any:
        self._log_episode()
        if self.runs is not None:
            self.runs.episode_ended()
        self.control.start_episode()
        self._driving = self._began = False
        obs, info = super().reset(collect_samples)  # type: ignore[misc]
        self._last_info = info if isinstance(info, dict) else {}
        self.episode_steps = self.person_steps = self.take_overs = 0
        self._deadline = time.monotonic()
        return obs, info

    def act(self, obs: Any, test: bool = False) -> Any:
        action = super().act(obs, test=test)  # type: ignore[misc]
        if test:
            return action
        self._pace()
        person = self.control.poll(obs, self._last_info)
        driving = person is not None
        self._began = driving and not self._driving
        self._driving = driving
        self.episode_steps += 1
        self.total_steps += 1
        if driving:
            self.person_steps += 1
            self.total_person_steps += 1
            self.take_overs += int(self._began)
            self.total_take_overs += int(self._began)
            action = person_action(person, self.env.action_space)
        self.control.status(driving, self.person_steps, self.take_overs, self.episode_steps)
        return action

    def _pace(self) -> None:
        if self.step_seconds <= 0:
            return
        self._deadline += self.step_seconds
        wait = self._deadline - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            self._deadline = time.monotonic()  # late: do not rush to catch up

    def _tagged_sample(self, act: Any, new_obs: Any, rew: Any, terminated: bool, truncated: bool,
                       info: Any) -> Any:
        """The sample as tmrl builds it, with the step's info tagged when the person drove it."""
        info = info if isinstance(info, dict) else {}
        person = self._driving and act is not None  # act is None on a reset: nobody drove it
        if person:
            tags: dict[str, Any] = {INTERVENTION_FLAG: True, DEMO_FLAG: True}
            if self._began:
                tags[TAKE_OVER_KEY] = self.control.where(self._last_info)
            info = {**info, **tags}
        self._last_info = info
        if self.runs is not None:
            self.runs.add((act, new_obs, rew, terminated, truncated, info), person)
        if self._compress is not None:
            return self._compress(act, new_obs, rew, terminated, truncated, info)
        return act, new_obs, rew, terminated, truncated, info

    def totals(self) -> tuple[int, int, int]:
        """(steps, steps the person drove, take-overs) over every training episode so far, the current one too."""
        return self.total_steps, self.total_person_steps, self.total_take_overs

    def _log_episode(self) -> None:
        if self.episode_steps == 0:
            return
        log.info(f"Player runs take-over: the person drove {self.person_steps} of {self.episode_steps} steps in "
                 f"{self.take_overs} take-over(s) this episode ({self.total_person_steps} of {self.total_steps} "
                 "so far)")


def take_over_worker_cls(base: type) -> type:
    """``base`` (tmrl's RolloutWorker or a subclass) with ``TakeOverWorker`` mixed in."""
    return type(f"TakeOver{base.__name__}", (TakeOverWorker, base), {})
