"""Where the core meets tmrl: the current tmrl configuration turned into plain pieces.

``load_setup()`` reads the CURRENT tmrl configuration (``~/TmrlData/config/config.json``) and
returns the pieces a rollout worker and the trainer would use (``TmrlSetup``): the expected raw sample
signature, the sample compressor, the replay memory class and the dataset folder. The run-file core
(``playerruns.runs``) and the importer work on those pieces and never import tmrl themselves; tmrl
is imported here only inside functions, after ``check_tmrl_data`` made sure tmrl will not try to
download its resources. (The trainer, the TrackMania recorder and the built-in experiment subclass
or drive tmrl's classes directly: see ``playerruns/__init__.py``.)

Two kinds of configuration are served:
- tmrl's stock TrackMania interfaces ``TM20LIDAR``, ``TM20LIDARPROGRESS`` and ``TM20FULL``, built by
  ``tmrl.config.config_objects`` exactly as ``python -m tmrl`` builds them;
- a plain gymnasium environment through tmrl's generic path (``GenericGymEnv`` +
  ``GenericTorchMemory``, no preprocessor, no compressor), selected with
  ``"ENV": {"RTGYM_INTERFACE": "GYM:<gymnasium id>"}`` - how playerruns runs without the game.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import gymnasium
import numpy as np

from playerruns.runs.errors import ConfigError
from playerruns.runs.sample import Sample
from playerruns.runs.signature import signature_of
from playerruns.runs.validation import DEFAULT_VALUE_LIMIT, Compatibility

TRACKMANIA_INTERFACES = ("TM20LIDAR", "TM20LIDARPROGRESS", "TM20FULL")
GYM_PREFIX = "GYM:"
TMRL_DATA_SUBFOLDERS = ("config", "dataset", "checkpoints", "weights", "reward", "player_runs")


class SampleBuffer(Protocol):
    """What a tmrl memory's ``append_buffer`` reads: compressed samples in ``.memory`` (a tmrl Buffer)."""

    memory: list[Sample]

    def __len__(self) -> int: ...


class ReplayMemory(Protocol):
    """The part of a tmrl replay memory playerruns relies on (all four stock memories have it)."""

    data: list[list[Any]]  # one column per field, one entry per raw sample
    memory_size: int
    batch_size: int

    def append_buffer(self, buffer: SampleBuffer) -> None: ...

    def __len__(self) -> int: ...


@dataclass
class TmrlSetup:
    """The configured tmrl pieces a run file must fit and goes through."""

    interface: str
    compat: Compatibility
    dataset_path: Path
    memory_cls: Callable[..., ReplayMemory]  # tmrl's configured MEMORY partial (a trainer adds nb_steps, device)
    sample_compressor: Callable[..., tuple] | None
    obs_preprocessor: Callable[[Any], Any] | None  # observation -> observation, as tmrl's OBS_PREPROCESSOR
    act_buf_len: int  # 0 for non-real-time (gymnasium) environments
    default_action: np.ndarray | None  # the reset sample's action (None outside rtgym)
    observation_space: Any  # the interface's own space (TrackMania) or the env's space (gymnasium)
    action_space: Any
    max_samples_per_episode: int
    env_id: str | None = None  # gymnasium id on the generic path
    env_step_limit: int | None = None  # the environment's own episode limit (gymnasium TimeLimit, rtgym ep_max_length)
    reward_path: Path | None = None  # TrackMania: tmrl's reward trajectory file (TmrlData/reward/reward.pkl)
    reward_config: dict[str, Any] | None = None  # TrackMania: config.json's ENV.REWARD_CONFIG

    @property
    def episode_step_limit(self) -> int:
        """The most steps a worker's episode can last: RW_MAX_SAMPLES_PER_EPISODE or the environment's limit."""
        return min(self.max_samples_per_episode, self.env_step_limit or self.max_samples_per_episode)

    def make_memory(self, dataset_path: str | Path | None = None, **kwargs: Any) -> ReplayMemory:
        """A replay memory of the configured class; ``dataset_path`` defaults to tmrl's dataset folder."""
        kwargs.setdefault("nb_steps", 1)
        kwargs.setdefault("device", "cpu")
        if dataset_path is not None:
            kwargs["dataset_path"] = str(dataset_path)
        return self.memory_cls(**kwargs)

    def reward_function(self) -> Any:
        """A fresh tmrl ``RewardFunction`` for the current reward file and REWARD_CONFIG, built exactly as
        tmrl's TrackMania interfaces build theirs (TrackMania configurations only)."""
        from tmrl.custom.tm.utils.compute_reward import RewardFunction

        if self.reward_path is None or self.reward_config is None:
            raise ConfigError(f"the current interface {self.interface} has no reward trajectory (TrackMania only)")
        rc = self.reward_config
        return RewardFunction(reward_data_path=str(self.reward_path), nb_obs_forward=rc["CHECK_FORWARD"],
                              nb_obs_backward=rc["CHECK_BACKWARD"], nb_zero_rew_before_failure=rc["FAILURE_COUNTDOWN"],
                              min_nb_steps_before_failure=rc["MIN_STEPS"], max_dist_from_traj=rc["MAX_STRAY"])

    def compress(self, sample: tuple) -> tuple:
        """What a rollout worker sends for this raw sample."""
        if self.sample_compressor is None:
            return sample
        return self.sample_compressor(*sample)


def env_cls(setup: TmrlSetup, modifiers: dict[str, Any] | None = None,
            interface: Callable[[Any], Any] | None = None) -> partial:
    """tmrl's ``GenericGymEnv`` for the current configuration, as a rollout worker builds it: the
    gymnasium task with ``modifiers`` as its keyword arguments, or TrackMania's rtgym environment with
    ``modifiers`` over tmrl's CONFIG_DICT and its interface partial passed through ``interface``."""
    import tmrl.config.config_constants as cfg
    import tmrl.config.config_objects as cfg_obj
    from tmrl.envs import GenericGymEnv

    if setup.env_id is not None:
        return partial(GenericGymEnv, id=setup.env_id, gym_kwargs=dict(modifiers or {}))
    config = {**cfg_obj.CONFIG_DICT, **(modifiers or {})}
    if interface is not None:
        config["interface"] = interface(config["interface"])
    return partial(GenericGymEnv, id=cfg.RTGYM_VERSION, gym_kwargs={"config": config})


def close_env(env: Any) -> None:
    """Closes an environment made by ``env_cls``. TrackMania's rtgym environment runs each time step's action and
    capture in a background thread; an episode stopped before its end (the recorder's stop key, a sample limit)
    leaves one running, and a process that exits with it inside the capture can abort ("FATAL: exception not
    rethrown"). It is joined first."""
    from rtgym.envs.real_time_env import RealTimeEnv

    if isinstance(env.unwrapped, RealTimeEnv):
        env.unwrapped.stop()  # joins the time step's thread
    env.close()


def run_name() -> str:
    """tmrl's RUN_NAME in the current config.json (names the checkpoint, the weights and the statistics)."""
    import tmrl.config.config_constants as cfg

    return str(cfg.RUN_NAME)


def tmrl_data_folder() -> Path:
    """tmrl's data folder: ``~/TmrlData`` (the HOME environment variable decides ``~``)."""
    return Path.home() / "TmrlData"


def default_config() -> dict[str, Any]:
    """playerruns' bundled tmrl 0.7.1 config.json (TM20LIDAR, CPU)."""
    text = resources.files("playerruns").joinpath("default_config.json").read_text(encoding="utf-8")
    return json.loads(text)


def init_tmrl_data(home: str | Path | None = None, *, interface: str | None = None,
                   overrides: dict[str, Any] | None = None) -> Path:
    """Creates a TmrlData skeleton (folders + config.json) WITHOUT downloading anything.

    tmrl itself downloads its resources on first import, which fails offline. An existing
    config.json is never overwritten. Returns the TmrlData folder.
    """
    folder = (Path(home) if home is not None else Path.home()) / "TmrlData"
    for sub in TMRL_DATA_SUBFOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    config_file = folder / "config" / "config.json"
    if not config_file.exists():
        config = default_config()
        if interface is not None:
            config["ENV"]["RTGYM_INTERFACE"] = interface
        for key, value in (overrides or {}).items():
            config[key] = value
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def existing_interface(config_file: Path) -> str:
    """ENV.RTGYM_INTERFACE of an existing config.json, or a word saying why there is none."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        return str(config["ENV"]["RTGYM_INTERFACE"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "unreadable"
    except (KeyError, TypeError):
        return "not set"


def check_tmrl_data() -> Path:
    """Fails with a one-line ConfigError unless TmrlData and a parsable config.json exist.

    Runs BEFORE tmrl is imported: tmrl would otherwise try to download its resources.
    """
    folder = tmrl_data_folder()
    config_file = folder / "config" / "config.json"
    if not folder.is_dir():
        raise ConfigError(f"{folder}: TmrlData folder not found (install tmrl's resources, or create a "
                          "skeleton with `python -m playerruns --init-tmrl-data`)")
    if not config_file.is_file():
        raise ConfigError(f"{config_file}: tmrl config file not found (create one with "
                          "`python -m playerruns --init-tmrl-data --interface NAME`)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{config_file}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{config_file}: expected a JSON object at the top level")
    return config_file


def _import_tmrl_config() -> tuple[ModuleType, ModuleType | None]:
    """Imports tmrl's config modules, turning their asserts and KeyErrors into ConfigErrors."""
    config_file = check_tmrl_data()
    try:
        import tmrl.config.config_constants as cfg
    except KeyError as err:
        raise ConfigError(f"{config_file}: missing key {err} that tmrl 0.7.1 requires") from None
    except (AssertionError, RuntimeError, TypeError, ValueError) as err:
        raise ConfigError(f"{config_file}: rejected by tmrl: {err}".replace("\n", " ")) from None
    interface = str(cfg.RTGYM_INTERFACE)
    if interface.upper().startswith(GYM_PREFIX):
        return cfg, None
    if interface not in TRACKMANIA_INTERFACES:
        raise ConfigError(f"{config_file}: ENV.RTGYM_INTERFACE is {interface!r}, expected one of "
                          f"{', '.join(TRACKMANIA_INTERFACES)} or 'GYM:<gymnasium id>'")
    try:
        import tmrl.config.config_objects as cfg_obj
    except KeyError as err:
        raise ConfigError(f"{config_file}: missing key {err} that tmrl 0.7.1 requires") from None
    except (AssertionError, TypeError, ValueError) as err:
        raise ConfigError(f"{config_file}: rejected by tmrl: {err}".replace("\n", " ")) from None
    return cfg, cfg_obj


def load_setup() -> TmrlSetup:
    """The tmrl pieces of the current configuration. Raises ConfigError on a missing/broken config."""
    cfg, cfg_obj = _import_tmrl_config()
    if cfg_obj is None:
        return _gym_setup(cfg)
    return _trackmania_setup(cfg, cfg_obj)


def _trackmania_setup(cfg: ModuleType, cfg_obj: ModuleType) -> TmrlSetup:
    interface = cfg_obj.CONFIG_DICT["interface"]()  # building it does not need the game
    obs_space = interface.get_observation_space()
    act_space = interface.get_action_space()
    default_action = np.asarray(interface.get_default_action(), dtype=np.float32)
    act_buf_len = int(cfg.ACT_BUF_LEN)
    # rtgym appends the action buffer to the interface's observation; the preprocessor reshapes it
    env_obs = (*(np.zeros(s.shape, s.dtype) for s in obs_space.spaces), *([default_action] * act_buf_len))
    raw_obs = cfg_obj.OBS_PREPROCESSOR(env_obs)
    example: Sample = (default_action, raw_obs, 0.0, False, False, {})
    compressed_obs = cfg_obj.SAMPLE_COMPRESSOR(*example)[1]
    compat = Compatibility(interface=cfg.RTGYM_INTERFACE, obs_signature=signature_of(raw_obs),
                           action_shape=tuple(act_space.shape),
                           compressed_obs_signature=signature_of(compressed_obs),
                           value_limit=value_limit(obs_space, act_space))
    return TmrlSetup(interface=cfg.RTGYM_INTERFACE, compat=compat, dataset_path=Path(cfg.DATASET_PATH),
                     memory_cls=cfg_obj.MEMORY, sample_compressor=cfg_obj.SAMPLE_COMPRESSOR,
                     obs_preprocessor=cfg_obj.OBS_PREPROCESSOR, act_buf_len=act_buf_len,
                     default_action=default_action, observation_space=obs_space, action_space=act_space,
                     max_samples_per_episode=int(cfg.RW_MAX_SAMPLES_PER_EPISODE),
                     env_step_limit=_positive_int(cfg.ENV_CONFIG.get("RTGYM_CONFIG", {}).get("ep_max_length")),
                     reward_path=Path(cfg.REWARD_PATH), reward_config=dict(cfg.REWARD_CONFIG))


def _gym_setup(cfg: ModuleType) -> TmrlSetup:
    from tmrl.custom.custom_memories import GenericTorchMemory
    from tmrl.envs import GenericGymEnv

    interface = str(cfg.RTGYM_INTERFACE)
    env_id = interface[len(GYM_PREFIX):]
    try:
        env = GenericGymEnv(id=env_id)
    except Exception as err:  # gymnasium raises several types for an unknown or broken id
        raise ConfigError(f"{cfg.CONFIG_FILE}: ENV.RTGYM_INTERFACE {interface!r}: gymnasium cannot make "
                          f"{env_id!r} ({type(err).__name__}: {err})") from None
    obs_space, act_space = env.observation_space, env.action_space
    spec = env.spec  # gymnasium's: max_episode_steps is its TimeLimit
    env.close()
    example_obs = np.zeros(obs_space.shape, obs_space.dtype)
    compat = Compatibility(interface=interface, obs_signature=signature_of(example_obs),
                           action_shape=tuple(act_space.shape), value_limit=value_limit(obs_space, act_space))
    memory_cls = partial(GenericTorchMemory, memory_size=cfg.TMRL_CONFIG["MEMORY_SIZE"],
                         batch_size=cfg.TMRL_CONFIG["BATCH_SIZE"], dataset_path=cfg.DATASET_PATH)
    return TmrlSetup(interface=interface, compat=compat, dataset_path=Path(cfg.DATASET_PATH),
                     memory_cls=memory_cls, sample_compressor=None, obs_preprocessor=None, act_buf_len=0,
                     default_action=None, observation_space=obs_space, action_space=act_space,
                     max_samples_per_episode=int(cfg.RW_MAX_SAMPLES_PER_EPISODE), env_id=env_id,
                     env_step_limit=_positive_int(getattr(spec, "max_episode_steps", None)))


def _positive_int(value: Any) -> int | None:
    """An episode limit from a config or an env spec; None when there is none (or it is not a positive int)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def value_limit(*spaces: Any) -> float:
    """The largest magnitude a run's observation and action values may have: ``DEFAULT_VALUE_LIMIT``, or ten
    times the largest finite bound of the spaces' boxes when that is larger."""
    bounds = [DEFAULT_VALUE_LIMIT / 10]
    stack = list(spaces)
    while stack:
        space = stack.pop()
        if isinstance(space, gymnasium.spaces.Box):
            both = np.abs(np.concatenate([np.ravel(space.low), np.ravel(space.high)]).astype(np.float64))
            finite = both[np.isfinite(both)]
            if finite.size:
                bounds.append(float(finite.max()))
        elif isinstance(space, gymnasium.spaces.Tuple):
            stack.extend(space.spaces)
    return 10 * max(bounds)


class SampleBatch:
    """A list of compressed samples shaped like a tmrl ``Buffer`` (``.memory``), without its
    clipping to BUFFERS_MAXLEN: a tmrl Buffer drops the oldest samples of a large import."""

    def __init__(self, samples: list[tuple]) -> None:
        self.memory = samples

    def __len__(self) -> int:
        return len(self.memory)


@contextmanager
def _quiet_tmrl_logs() -> Iterator[None]:
    """Silences tmrl's INFO lines (e.g. 'no data found, initializing empty replay memory')."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def empty_memory(setup: TmrlSetup, scratch_folder: Path) -> ReplayMemory:
    """A replay memory of the configured class that starts empty (``scratch_folder`` holds no data.pkl)."""
    with _quiet_tmrl_logs():
        return setup.make_memory(dataset_path=scratch_folder / ".playerruns-no-dataset")


def append_safely(memory: ReplayMemory, batch: SampleBuffer,
                  append_buffer: Callable[[SampleBuffer], object] | None = None) -> None:
    """Appends a Buffer-shaped batch through the memory's own ``append_buffer`` (and its trimming).

    tmrl's memories decide whether to extend their columns or create them from ``len(self)``,
    which stays 0 until a handful of samples are in (1 for GenericTorchMemory, min_samples + 1 for
    the TrackMania memories). Appending to such a tiny non-empty memory would add a second set of
    columns and corrupt it, so then the batch is appended to the memory emptied of its columns, the
    new columns are joined after the held ones (the TrackMania memories' sample numbers continue
    from the held ones), and tmrl trims on an empty append. ``append_buffer`` defaults to
    ``memory.append_buffer``.
    """
    append_buffer = append_buffer or memory.append_buffer
    if not (memory.data and len(memory) == 0):
        append_buffer(batch)
        return
    if len(batch) == 0:  # nothing to add, and a memory this small has nothing to trim
        return
    held = memory.data
    memory.data = []
    try:
        append_buffer(batch)
    except BaseException:
        memory.data = held
        raise
    added = memory.data
    if _numbers_its_samples(memory):
        added[0] = [held[0][-1] + 1 + i for i in range(len(added[0]))]
    memory.data = [old + new for old, new in zip(held, added, strict=True)]
    if len(memory) > memory.memory_size:
        append_buffer(SampleBatch([]))


def _numbers_its_samples(memory: ReplayMemory) -> bool:
    """True for tmrl's TrackMania memories, whose first column numbers the samples."""
    from tmrl.custom.custom_memories import MemoryTM

    return isinstance(memory, MemoryTM)


def append_samples(memory: ReplayMemory, samples: list[Sample]) -> None:
    """Appends compressed samples to a tmrl memory (see append_safely)."""
    append_safely(memory, SampleBatch(samples))


def raw_sample_count(data: list[list[Any]]) -> int:
    """Raw samples in a memory's column data (every tmrl memory keeps one entry per sample per column)."""
    return len(data[0]) if data else 0
