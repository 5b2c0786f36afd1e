"""tmrl's roles (server, trainer, workers...) started from the current config, as ``python -m tmrl``
starts them, except that the trainer gets the player-runs behaviour (``playerruns.trainer.training``).

TrackMania configurations use tmrl's configured pieces unchanged. ``GYM:<id>`` configurations use
tmrl's generic path: ``GenericGymEnv``, ``GenericTorchMemory`` and tmrl's MLP SAC models.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from playerruns.bridge.setup import TmrlSetup, env_cls, load_setup
from playerruns.runs.errors import PlayerRunsError
from playerruns.trainer.config import PlayerRunsConfig, parse_player_runs, wsl_hint
from playerruns.trainer.console import Watch, quiet_tmrl

log = logging.getLogger(__name__)

def _policy_cls(setup: TmrlSetup, player_runs: PlayerRunsConfig) -> Any:
    import tmrl.config.config_objects as cfg_obj
    from tmrl.custom.custom_models import SquashedGaussianMLPActor

    if player_runs.RECURRENT:
        from playerruns.trainer.recurrent_sac import RecurrentActor

        return partial(RecurrentActor, hidden=player_runs.RECURRENT_HIDDEN_SIZE)
    return SquashedGaussianMLPActor if setup.env_id is not None else cfg_obj.POLICY


def training_cls(setup: TmrlSetup, player_runs: PlayerRunsConfig, watch: Watch | None = None) -> partial:
    """tmrl's configured TRAINER partial, with PlayerRunsTraining and a demo-weighted memory."""
    import tmrl.config.config_objects as cfg_obj
    from tmrl.custom.custom_models import MLPActorCritic, REDQMLPActorCritic
    from tmrl.envs import GenericGymEnv

    from playerruns.trainer.memories import weighted_memory_cls
    from playerruns.trainer.training import PlayerRunsTraining

    keywords = dict(cfg_obj.TRAINER.keywords)
    if setup.env_id is not None:
        agent = cfg_obj.AGENT
        model = MLPActorCritic if cfg_obj.ALG_NAME == "SAC" else REDQMLPActorCritic
        if player_runs.CRITIC_LAYER_NORM:
            from playerruns.trainer.critics import LayerNormMLPActorCritic

            model = LayerNormMLPActorCritic
        keywords["env_cls"] = partial(GenericGymEnv, id=setup.env_id)
        keywords["memory_cls"] = setup.memory_cls
        keywords["training_agent_cls"] = partial(agent.func, *agent.args, **{**agent.keywords, "model_cls": model})
    if player_runs.RECURRENT:
        from playerruns.trainer.recurrent_sac import RecurrentActorCritic, RecurrentSacAgent
        from playerruns.trainer.sequences import sequence_memory_cls

        keywords["memory_cls"] = sequence_memory_cls(keywords["memory_cls"], player_runs.schedule,
                                                     player_runs.KEEP_DEMOS, player_runs.window)
        agent = keywords["training_agent_cls"]
        model = partial(RecurrentActorCritic, hidden=player_runs.RECURRENT_HIDDEN_SIZE)
        keywords["training_agent_cls"] = partial(RecurrentSacAgent, *agent.args, **{**agent.keywords,
                                                                                   "model_cls": model})
        return partial(PlayerRunsTraining, **keywords, player_runs=player_runs, watch=watch or Watch())
    if player_runs.CRITIC_LAYER_NORM and setup.env_id is None:
        agent = keywords["training_agent_cls"]
        keywords["training_agent_cls"] = partial(agent.func, *agent.args,
                                                 **{**agent.keywords, "model_cls": layer_norm_model(agent)})
    return_gamma = None
    if player_runs.DEMO_RETURN_BOUND:
        return_gamma = float(keywords["training_agent_cls"].keywords.get("gamma", 0.99))
    keywords["memory_cls"] = weighted_memory_cls(keywords["memory_cls"], player_runs.schedule, player_runs.KEEP_DEMOS,
                                                 return_gamma=return_gamma)
    if player_runs.uses_demo_agent:
        from playerruns.trainer.demo_sac import check_action_weights

        check_action_weights(player_runs.DEMO_BC_ACTION_WEIGHTS, setup.action_space)  # stops the trainer at once
        keywords["training_agent_cls"] = demo_agent_cls(keywords["training_agent_cls"], player_runs)
    return partial(PlayerRunsTraining, **keywords, player_runs=player_runs, watch=watch or Watch())


def demo_agent_cls(agent: partial, player_runs: PlayerRunsConfig) -> partial:
    """tmrl's configured SAC agent partial, as a DemoSacAgent with the PLAYER_RUNS cloning settings."""
    from tmrl.custom.custom_algorithms import SpinupSacAgent

    from playerruns.trainer.demo_sac import DemoSacAgent

    if not (isinstance(agent.func, type) and issubclass(agent.func, SpinupSacAgent)):
        raise PlayerRunsError(f"PLAYER_RUNS.DEMO_BC_COEF needs tmrl's SAC agent, "
                              f"not {agent.func.__name__}")
    keywords = dict(agent.keywords)
    if player_runs.DEMO_TARGET_ENTROPY is not None:  # cloning narrows the policy: its own target (user guide 4.5)
        keywords["target_entropy"] = player_runs.DEMO_TARGET_ENTROPY
    return partial(DemoSacAgent, *agent.args, **keywords, bc_coef=player_runs.DEMO_BC_COEF,
                   bc_decay_steps=player_runs.DEMO_BC_DECAY_STEPS, bc_coef_final=player_runs.DEMO_BC_COEF_FINAL,
                   bc_q_filter=player_runs.DEMO_BC_Q_FILTER,
                   actor_warmup_steps=player_runs.DEMO_ACTOR_WARMUP_STEPS,
                   demo_return_bound=player_runs.DEMO_RETURN_BOUND, bc_joint=player_runs.DEMO_BC_JOINT,
                   bc_action_weights=player_runs.DEMO_BC_ACTION_WEIGHTS,
                   policy_averaging=player_runs.POLICY_AVERAGING,
                   conservatism=player_runs.CRITIC_CONSERVATISM,
                   conservatism_decay_steps=player_runs.CRITIC_CONSERVATISM_DECAY_STEPS)


def layer_norm_model(agent: partial) -> Any:
    """CRITIC_LAYER_NORM on a TrackMania configuration: tmrl's MLP actor-critic only (TM20LIDAR's)."""
    from tmrl.custom.custom_models import MLPActorCritic

    from playerruns.trainer.critics import LayerNormMLPActorCritic

    model = agent.keywords.get("model_cls")
    if model is not MLPActorCritic:
        name = getattr(model, "__name__", repr(model))
        raise PlayerRunsError(f"PLAYER_RUNS.CRITIC_LAYER_NORM needs tmrl's MLPActorCritic (TM20LIDAR, GYM tasks), "
                              f"not {name}; set it to false")
    return LayerNormMLPActorCritic


def _take_over(worker_cls: type, setup: TmrlSetup, player_runs: PlayerRunsConfig,
               modifiers: dict[str, Any]) -> tuple[type, dict[str, Any], partial]:
    """PLAYER_RUNS.TAKE_OVER on a worker: the take-over worker class, its keywords, and its environment (a
    gymnasium task drawn in a window for a person; TrackMania with an interface that can hand the car over)."""
    from playerruns.envs.drivers import Skill
    from playerruns.takeover.controls import KeyboardTakeOver, TakeOverSettings
    from playerruns.takeover.worker import take_over_worker_cls

    kind = player_runs.TAKE_OVER
    settings = TakeOverSettings(key=player_runs.TAKE_OVER_KEY, button=player_runs.TAKE_OVER_BUTTON,
                                stick=player_runs.TAKE_OVER_STICK, deadzone=player_runs.TAKE_OVER_DEADZONE)
    factory: Any
    step_seconds = 0.0  # rtgym paces TrackMania; the stand-in needs no pace
    if setup.env_id is None:  # TrackMania
        from playerruns.takeover.trackmania import TAKE_OVER_INTERFACES, TrackManiaTakeOver

        factory = partial(TrackManiaTakeOver, settings=settings, kind=kind)
        env = env_cls(setup, modifiers, interface=lambda stock: partial(TAKE_OVER_INTERFACES[stock.func],
                                                                        *stock.args, **stock.keywords))
    elif kind == "stand-in":
        skill = Skill.at(player_runs.TAKE_OVER_SKILL)
        factory = partial(_stand_in, skill=skill, budget=player_runs.TAKE_OVER_BUDGET)
        env = env_cls(setup, modifiers)
    else:
        factory = partial(KeyboardTakeOver, settings=settings) if kind == "keyboard" else partial(
            _gamepad_with_view, settings=settings)
        step_seconds = player_runs.TAKE_OVER_STEP_SECONDS
        env = env_cls(setup, {"render_mode": "rgb_array", **modifiers})
    where = ""
    if kind == "keyboard":
        where = " while the game has the focus" if setup.env_id is None else " in the task's window"
    release = "" if kind == "stand-in" else ", release to give the car back"
    log.info(f"Player runs take-over: {kind} ({settings.hint(kind, where)}{release})")
    keywords: dict[str, Any] = {"control_factory": factory, "step_seconds": step_seconds,
                                "runs": _take_over_runs(setup, player_runs, step_seconds)}
    return take_over_worker_cls(worker_cls), keywords, env


def _take_over_runs(setup: TmrlSetup, player_runs: PlayerRunsConfig, step_seconds: float) -> Any:
    """What saves the person's take-overs as run files (PLAYER_RUNS.TAKE_OVER_RUNS_PATH; None: not saved)."""
    from playerruns.recording.session import run_metadata
    from playerruns.takeover.saving import TakeOverRuns

    folder = player_runs.take_over_runs_path
    if folder is None:
        log.info("Player runs take-over: what the person drives is not saved as run files "
                 "(PLAYER_RUNS.TAKE_OVER_RUNS_PATH is null)")
        return None
    log.info(f"Player runs take-over: each episode the person drives in is saved as a run file in {folder}")
    return TakeOverRuns(folder, interface=setup.interface, kind=player_runs.TAKE_OVER,
                        metadata=run_metadata(setup, step_seconds))


def _stand_in(env: Any, *, skill: Any, budget: int | None) -> Any:
    from playerruns.takeover.controls import StandInTakeOver

    return StandInTakeOver(skill, budget=budget)


def _gamepad_with_view(env: Any, *, settings: Any) -> Any:
    """The gamepad take-over, with the task's window when a display can show it."""
    from playerruns.recording.input_sources import TaskView
    from playerruns.takeover.controls import GamepadTakeOver

    try:
        view = TaskView(env.render, title=f"playerruns: hold button {settings.button} to take the wheel")
    except PlayerRunsError as err:
        log.warning(f"Player runs take-over: no window to show the task ({err}); the pad still takes over")
        view = None
    return GamepadTakeOver(env, settings, view)


def log_injection_settings(player_runs: PlayerRunsConfig) -> None:
    if not player_runs.ONLINE_INJECTION:
        log.info("Player runs online injection: disabled (PLAYER_RUNS.ONLINE_INJECTION is false)")
        return
    path = player_runs.source_path
    log.info(f"Player runs online injection: SOURCE_PATH={path} (exists={str(path.is_dir()).lower()})")
    meant = wsl_hint(player_runs.SOURCE_PATH)
    if meant is not None:
        log.warning(f"Player runs SOURCE_PATH {player_runs.SOURCE_PATH!r} is a Windows path but this trainer runs on "
                    f"Linux: on WSL it is probably {meant!r}")


def _require_wandb() -> None:
    try:
        import wandb  # noqa: F401  # only to know it can be
    except ImportError:
        raise PlayerRunsError("--wandb: the wandb package is not installed here (pip install wandb), "
                              "or train without --wandb") from None


@contextmanager
def _exit_on_error(role: str) -> Iterator[None]:
    """Ends the process when the role's loop raises: tmrl's network threads would otherwise keep a process
    alive that no longer trains (or collects), and nothing outside would know."""
    try:
        yield
    except Exception:
        log.exception(f"Player runs: the {role} stopped on this error; the process exits (code 1)")
        _exit_now(1)


def _exit_now(code: int) -> None:
    """Ends the process with ``code`` at once, with tlspyo's network processes (its threads and child processes
    would keep it, or themselves, alive)."""
    import multiprocessing

    logging.shutdown()
    for child in multiprocessing.active_children():
        child.terminate()
    os._exit(code)


def make_worker(role: str, setup: TmrlSetup, player_runs: PlayerRunsConfig,
                modifiers: dict[str, Any] | None = None) -> Any:
    """tmrl's rollout worker for ``role`` ("worker", "expert", "test" or "benchmark") in the current config: the
    recurrent one for RECURRENT; for "worker" with PLAYER_RUNS.WORKER_SYNC_STEPS, one that also sends and takes
    weights inside an episode (``playerruns.trainer.worker_sync``); with PLAYER_RUNS.TAKE_OVER on, one a person
    can take the wheel from (``playerruns.takeover.worker``); otherwise exactly tmrl's."""
    import tmrl.config.config_constants as cfg
    from tmrl.networking import RolloutWorker

    modifiers = modifiers or {}
    worker_cls: Any = RolloutWorker
    if player_runs.RECURRENT:
        from playerruns.trainer.recurrent_sac import RecurrentRolloutWorker

        worker_cls = RecurrentRolloutWorker
    take_over: dict[str, Any] = {}
    sync: dict[str, Any] = {}
    if role == "worker" and player_runs.WORKER_SYNC_STEPS > 0:
        from playerruns.trainer.worker_sync import syncing_worker_cls

        worker_cls = syncing_worker_cls(worker_cls)
        sync["sync_steps"] = player_runs.WORKER_SYNC_STEPS
        log.info(f"Player runs: the worker sends its samples and takes new weights every "
                 f"{player_runs.WORKER_SYNC_STEPS} steps inside an episode (PLAYER_RUNS.WORKER_SYNC_STEPS)")
    env = env_cls(setup, modifiers)
    if role == "worker" and player_runs.take_over:  # else tmrl's own worker, sending what it sends today
        worker_cls, take_over, env = _take_over(worker_cls, setup, player_runs, modifiers)
    worker = worker_cls(env_cls=env, actor_module_cls=_policy_cls(setup, player_runs),
                        sample_compressor=setup.sample_compressor,
                        device="cuda" if cfg.CUDA_INFERENCE else "cpu",
                        server_ip=cfg.SERVER_IP_FOR_WORKER,
                        max_samples_per_episode=cfg.RW_MAX_SAMPLES_PER_EPISODE,
                        model_path=cfg.MODEL_PATH_WORKER, obs_preprocessor=setup.obs_preprocessor,
                        crc_debug=cfg.CRC_DEBUG, standalone=role == "test", **take_over, **sync)
    return worker


def run_role(role: str, *, modifiers: dict[str, Any] | None = None, wandb: bool = False,
             tmrl_log: bool = False) -> int:
    """Starts one tmrl role and runs it until it ends (workers and the server run until killed)."""
    setup = load_setup()  # validates TmrlData and config.json first
    import tmrl.config.config_constants as cfg
    import tmrl.config.config_objects as cfg_obj
    from tmrl.networking import Server

    modifiers = modifiers or {}
    if role == "server":
        server = Server()  # must stay referenced: the relay stops when the object is collected
        while server is not None:
            time.sleep(1.0)
    player_runs = parse_player_runs(cfg.TMRL_CONFIG, str(cfg.CONFIG_FILE))  # workers too: the recurrent policy
    if role in ("worker", "expert", "test", "benchmark"):
        try:
            worker = make_worker(role, setup, player_runs, modifiers)
        except PlayerRunsError as err:  # e.g. no window for the take-over: tmrl's network process is already up
            print(f"playerruns: error: {err}", file=sys.stderr, flush=True)
            _exit_now(2)
        if role == "worker":
            with _exit_on_error("worker"):
                worker.run()
        elif role == "expert":
            worker.run(expert=True)
        elif role == "benchmark":
            worker.run_env_benchmark(nb_steps=1000, test=False)
        else:
            worker.run_episodes(10000)
        return 0
    if role == "trainer":
        if wandb:
            _require_wandb()  # before anything starts
        from playerruns.trainer.receiving import PlayerRunsTrainer
        from playerruns.trainer.training import save_checkpoint, update_training_instance

        log_injection_settings(player_runs)
        if not tmrl_log:
            quiet_tmrl()  # one line per epoch instead of tmrl's table every round
        cls = training_cls(setup, player_runs, Watch(tmrl_log=tmrl_log, wandb=wandb))
        trainer = PlayerRunsTrainer(cls, server_ip=cfg.SERVER_IP_FOR_TRAINER, model_path=cfg.MODEL_PATH_TRAINER,
                                    checkpoint_path=cfg.CHECKPOINT_PATH,
                                    dump_run_instance_fn=partial(save_checkpoint, dump=cfg_obj.DUMP_RUN_INSTANCE_FN),
                                    load_run_instance_fn=cfg_obj.LOAD_RUN_INSTANCE_FN,
                                    updater_fn=partial(update_training_instance, tmrl_updater=cfg_obj.UPDATER_FN))
        logging.info(f"--- NOW RUNNING {cfg_obj.ALG_NAME} on {setup.interface} (with player runs) ---")
        with _exit_on_error("trainer"):
            trainer.run()  # with --wandb, the statistics channel goes to wandb (playerruns.trainer.sinks)
        return 0
    raise ValueError(f"unknown role {role!r}")
