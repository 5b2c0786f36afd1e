"""``python -m playerruns``: the player-runs workflow with the flags of the user guide."""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import logging
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from playerruns.bridge.seeding import seed_from_environment
from playerruns.runs.errors import PlayerRunsError
from playerruns.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), exit code 2, no abbreviated flags (``--player-runs-path``
    is not ``--player-runs-paths``) and a "did you mean" for a mistyped flag."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"playerruns: error: {self._with_suggestions(message)} (see --help)\n")

    def _with_suggestions(self, message: str) -> str:
        prefix = "unrecognized arguments: "
        if not message.startswith(prefix):
            return message
        known = [flag for action in self._actions for flag in action.option_strings if flag.startswith("--")]
        hints = []
        for word in message[len(prefix):].split():
            flag = word.split("=", 1)[0]
            if flag.startswith("--"):
                close = difflib.get_close_matches(flag, known, n=1, cutoff=0.75)
                if close:
                    hints.append(f"{flag}: did you mean {close[0]}?")
        return message + (f" ({'; '.join(hints)})" if hints else "")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m playerruns",
                description="Bootstrap tmrl 0.7.1 training with human-driven player runs.")
    p.add_argument("--version", action="version", version=f"playerruns {__version__}")

    roles = p.add_argument_group("tmrl roles (as python -m tmrl; the trainer gets online injection and demo sampling)")
    roles.add_argument("--server", action="store_true", help="launch the tmrl server")
    roles.add_argument("--trainer", action="store_true", help="launch the trainer (with the PLAYER_RUNS behaviour)")
    roles.add_argument("--worker", action="store_true", help="launch a rollout worker")
    roles.add_argument("--expert", action="store_true", help="launch an expert rollout worker (no model update)")
    roles.add_argument("--test", action="store_true", help="run inference without training")
    roles.add_argument("--benchmark", action="store_true", help="benchmark the environment")
    roles.add_argument("--wandb", action="store_true",
                       help="with --trainer: the statistics also go to Weights and Biases (WANDB_MODE=offline works)")
    roles.add_argument("--tmrl-log", action="store_true",
                       help="with --trainer: print tmrl's own table every round, as python -m tmrl does (default: "
                            "one line per epoch)")
    roles.add_argument("-d", "--config", type=_json_object, default={}, metavar="JSON",
                       help="rtgym config modifiers for workers, as a JSON object (as in tmrl)")

    rec = p.add_argument_group("record runs: you drive, playerruns records")
    rec.add_argument("--record-episode", action="store_true",
                     help="record episodes driven by a person into run files (Enter starts, Del ends early)")
    rec.add_argument("--record-episode-count", type=_positive_int, default=1, metavar="N",
                     help="how many episodes to record (default 1)")
    rec.add_argument("--record-episode-output-dir", metavar="DIR",
                     help="where run files go (default ~/TmrlData/player_runs)")
    rec.add_argument("--record-episode-max-samples", type=_positive_int, metavar="N",
                     help="steps per episode at most (default: the config's RW_MAX_SAMPLES_PER_EPISODE)")
    rec.add_argument("--record-input", choices=("auto", "gamepad", "keyboard", "scripted", "openplanet"),
                     default="auto", help="where actions come from: auto = the game's telemetry for TrackMania, "
                                          "else a gamepad, else the keyboard in a window")
    rec.add_argument("--record-driver", metavar="MODULE:FUNCTION",
                     help="with --record-input scripted: a factory returning a policy obs -> action")
    rec.add_argument("--record-step-seconds", type=_seconds, metavar="S",
                     help="pace of a gymnasium environment's steps (default 0.05 for people, none for scripts)")
    rec.add_argument("--record-auto-start", action="store_true",
                     help="start each episode without waiting for Enter (for scripted drivers)")
    rec.add_argument("--record-end-button", type=int, default=6, metavar="N",
                     help="gamepad button that ends the episode (default 6: Back/Select)")

    imp = p.add_argument_group("import run files into the replay dataset (TmrlData/dataset/data.pkl)")
    imp.add_argument("--import-player-runs", action="store_true",
                     help="import run files into data.pkl through the configured tmrl memory")
    imp.add_argument("--player-runs-paths", metavar="PATHS",
                     help="comma-separated run files, folders (every *.pkl inside) or glob patterns")
    imp.add_argument("--player-runs-overwrite", action="store_true",
                     help="replace the existing dataset content instead of appending to it")
    imp.add_argument("--player-runs-max-samples", type=_positive_int, metavar="N",
                     help="keep only the newest N raw samples in the dataset")
    imp.add_argument("--player-runs-dry-run", action="store_true",
                     help="validate the files against the current config and report, writing nothing")

    send = p.add_argument_group("send run files to the trainer through the tmrl server (no shared folder)")
    send.add_argument("--send-player-runs", action="store_true",
                      help="send the run files of --player-runs-paths to the trainer connected to the tmrl server "
                           "(config.json's server address, port, password and TLS, as a worker); each file "
                           "confirmed by the trainer is renamed <name>.sent")
    send.add_argument("--send", action="store_true",
                      help="with --record-episode: send each episode to the trainer as soon as it is saved")
    send.add_argument("--send-timeout", type=_seconds, default=120.0, metavar="S",
                      help="how long to wait for the trainer's confirmations (default 120)")

    look = p.add_argument_group("look at runs, keep them useful, trade them with Minari (inputs are never modified)")
    look.add_argument("--inspect", action="store_true",
                      help="list the runs of --player-runs-paths: a row per run, and whether it fits the config")
    look.add_argument("--json", action="store_true", help="with --inspect: one JSON object per run instead of a table")
    look.add_argument("--plot", action="store_true",
                      help="write one PNG per run of --player-runs-paths: actions, reward and return, speed, "
                           "trajectory")
    look.add_argument("--reward-from-run", metavar="RUN",
                      help="write tmrl's reward file (TmrlData/reward/reward.pkl) from the positions of a "
                           "TrackMania player run (the old file is kept as reward.pkl.old)")
    look.add_argument("--relabel-rewards", action="store_true",
                      help="recompute the rewards of the TrackMania runs of --player-runs-paths with the current "
                           "reward file, into new run files (the originals are kept)")
    look.add_argument("--export-minari", metavar="DATASET_ID",
                      help="export the runs of --player-runs-paths (a gymnasium task) to a new local Minari dataset")
    look.add_argument("--import-minari", metavar="DATASET_ID",
                      help="turn the episodes of a local Minari dataset into run files")
    look.add_argument("--plot-training", metavar="PATH",
                      help="draw a training run's curves (returns, evaluation, demo share, critic, losses) from "
                           "its statistics file PATH (~/TmrlData/statistics/<RUN_NAME>.jsonl) or a folder of them, "
                           "as <RUN_NAME>.png beside it")
    look.add_argument("--output-dir", metavar="DIR",
                      help="with --plot, --plot-training, --relabel-rewards or --import-minari: where new files go "
                           "(default: ~/TmrlData/player_runs/plots, beside the statistics file, .../relabeled, "
                           ".../minari/<dataset>)")

    setup = p.add_argument_group("set-up")
    setup.add_argument("--init-tmrl-data", action="store_true",
                       help="create ~/TmrlData with a default config.json without downloading anything")
    setup.add_argument("--interface", metavar="NAME",
                       help="with --init-tmrl-data: TM20LIDAR, TM20LIDARPROGRESS, TM20FULL or GYM:<gymnasium id>")
    setup.add_argument("--demo", action="store_true",
                       help="run the workflow on the built-in default environment in its own folder")
    setup.add_argument("--demo-dir", metavar="DIR", default="playerruns-demo",
                       help="with --demo: where the demo writes everything (default: ./playerruns-demo)")
    setup.add_argument("--demo-task", choices=("minitrack", "mountaincar"), default="minitrack",
                       help="with --demo: the built-in task (default minitrack, the small TrackMania; mountaincar: "
                            "gymnasium's MountainCarContinuous)")
    setup.add_argument("--quick", action="store_true", help="with --demo: the same path in a few minutes")
    setup.add_argument("--demo-steps", metavar="N", type=_demo_steps,
                       help="with --demo: environment steps each arm trains (default 10,000, --quick 3,000; the "
                            "benchmark's whole curve is 30,000, about three times as long to run)")
    setup.add_argument("--human", action="store_true",
                       help="with --demo: you drive the player runs (gamepad, or the keyboard in a window)")
    return p


ROLES = ("server", "trainer", "worker", "expert", "test", "benchmark")
RUN_TOOLS = ("inspect", "plot", "plot_training", "reward_from_run", "relabel_rewards", "export_minari",
             "import_minari")
COMMANDS = (*ROLES, "import_player_runs", "send_player_runs", "record_episode", *RUN_TOOLS, "init_tmrl_data", "demo")
WORKER_ROLES = ("worker", "expert", "test", "benchmark")

# option -> the commands it belongs to; given without one of them, it is refused rather than ignored
OPTION_OWNERS: dict[str, tuple[str, ...]] = {
    "wandb": ("trainer",),
    "tmrl_log": ("trainer",),
    "config": WORKER_ROLES,
    **{opt: ("record_episode",) for opt in (
        "record_episode_count", "record_episode_output_dir", "record_episode_max_samples", "record_input",
        "record_driver", "record_step_seconds", "record_auto_start", "record_end_button", "send")},
    "player_runs_paths": ("import_player_runs", "send_player_runs", "inspect", "plot", "relabel_rewards",
                          "export_minari"),
    "json": ("inspect",),
    "output_dir": ("plot", "plot_training", "relabel_rewards", "import_minari"),
    **{opt: ("import_player_runs",) for opt in (
        "player_runs_overwrite", "player_runs_max_samples", "player_runs_dry_run")},
    "send_timeout": ("send_player_runs", "record_episode"),
    "interface": ("init_tmrl_data",),
    **{opt: ("demo",) for opt in ("demo_dir", "demo_task", "quick", "human", "demo_steps")},
}


DEMO_MIN_STEPS = 1000  # one evaluation at the quick plan's interval: fewer steps would show no curve at all
DEMO_MAX_STEPS = 1_000_000  # about 3 hours of the paced worker: a typo of extra zeros is refused, not run for days


def _demo_steps(text: str) -> int:
    try:
        steps = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of environment steps, got {text!r}") from None
    if not DEMO_MIN_STEPS <= steps <= DEMO_MAX_STEPS:
        raise argparse.ArgumentTypeError(f"expected {DEMO_MIN_STEPS:,} to {DEMO_MAX_STEPS:,} environment steps, "
                                         f"got {steps:,}")
    return steps


def _flag(dest: str) -> str:
    return "-d/--config" if dest == "config" else "--" + dest.replace("_", "-")


def _given_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> dict[str, Any]:
    """The options the user actually typed (defaults left out), to refuse what cannot go together."""
    quiet = copy.deepcopy(parser)
    for action in quiet._actions:
        action.default = argparse.SUPPRESS
    return vars(quiet.parse_args(argv))


def check_combination(given: dict[str, Any]) -> str | None:
    """The one command given. Raises PlayerRunsError for two commands, or an option of another command."""
    commands = [c for c in COMMANDS if c in given]
    if len(commands) > 1:
        raise PlayerRunsError(f"choose one command, not {' and '.join(_flag(c) for c in commands)}")
    command = commands[0] if commands else None
    for option, owners in OPTION_OWNERS.items():
        if option in given and command not in owners:
            raise PlayerRunsError(f"{_flag(option)} goes with {' or '.join(_flag(o) for o in owners)}"
                                  + (f", not {_flag(command)}" if command else ""))
    if "record_driver" in given and given.get("record_input") != "scripted":
        raise PlayerRunsError("--record-driver goes with --record-input scripted")
    if "send_timeout" in given and command == "record_episode" and "send" not in given:
        raise PlayerRunsError("--send-timeout goes with --send-player-runs or --record-episode --send")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = None
    try:
        command = check_combination(_given_options(parser, argv))
        _set_up_logging(command)
        seed_from_environment()
        if command is None:
            parser.print_help()
            return 2
        return _dispatch(command, args)
    except PlayerRunsError as err:
        print(f"playerruns: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a folder that cannot be written: files are written atomically
        if command in ROLES:  # tmrl's roles report their own failures
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"playerruns: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("playerruns: interrupted", file=sys.stderr)
        return 130


class _PlainFormatter(logging.Formatter):
    """The tools' messages as sentences: ``warning: ...`` for warnings, nothing before the rest."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def _set_up_logging(command: str | None) -> None:
    """tmrl's roles log as tmrl does (``INFO:module:message``); the tools print plain sentences."""
    if command in ROLES or not command:
        logging.basicConfig(stream=sys.stdout, level=logging.INFO)
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_PlainFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _dispatch(command: str, args: argparse.Namespace) -> int:
    if command in ROLES:
        from playerruns.trainer.roles import run_role

        return run_role(command, modifiers=args.config, wandb=args.wandb, tmrl_log=args.tmrl_log)
    if command == "import_player_runs":
        return _import(args)
    if command == "send_player_runs":
        return _send(args)
    if command == "record_episode":
        from playerruns.bridge.setup import load_setup

        setup = load_setup()  # a missing or broken config fails here, before the recorder imports tmrl
        from playerruns.recording.session import run_recording

        return run_recording(setup, count=args.record_episode_count, output_dir=args.record_episode_output_dir,
                             max_samples=args.record_episode_max_samples, input_kind=args.record_input,
                             driver=args.record_driver, step_seconds=args.record_step_seconds,
                             end_button=args.record_end_button, auto_start=args.record_auto_start,
                             send_timeout=args.send_timeout if args.send else None)
    if command in RUN_TOOLS:
        return _run_tool(command, args)
    if command == "init_tmrl_data":
        return _init_tmrl_data(args.interface)
    from playerruns.builtin.demo import run_demo

    return run_demo(Path(args.demo_dir), quick=args.quick, human=args.human, task_name=args.demo_task,
                    budget_steps=args.demo_steps)


def _init_tmrl_data(interface: str | None) -> int:
    from playerruns.bridge.setup import existing_interface, init_tmrl_data, tmrl_data_folder

    config_file = tmrl_data_folder() / "config" / "config.json"
    kept = existing_interface(config_file) if config_file.exists() else None
    folder = init_tmrl_data(interface=interface)
    print(f"TmrlData ready at {folder} (config: {config_file})")
    if kept is not None and interface is not None and kept != interface:
        print(f"note: kept the existing config (interface {kept}), not {interface}: set ENV.RTGYM_INTERFACE in "
              f"{config_file}, or move that file away and run --init-tmrl-data --interface {interface} again")
    return 0


def _import(args: argparse.Namespace) -> int:
    from playerruns.bridge.dataset import import_runs
    from playerruns.bridge.setup import load_setup

    if args.player_runs_paths is None:
        raise PlayerRunsError("--import-player-runs needs --player-runs-paths \"run1.pkl,run2.pkl\"")
    setup = load_setup()
    report = import_runs(args.player_runs_paths, setup, overwrite=args.player_runs_overwrite,
                         max_samples=args.player_runs_max_samples, dry_run=args.player_runs_dry_run,
                         progress=sys.stderr.isatty())
    print(report.summary())
    checkpoint = _checkpoint_file()
    if report.imported_runs and not report.dry_run and checkpoint is not None:
        print(f"note: the trainer resumes from its checkpoint {checkpoint} and does not read data.pkl again: these "
              "runs reach it through PLAYER_RUNS.SOURCE_PATH or --send-player-runs (or delete the checkpoint to "
              "start training over from data.pkl)")
    return 0


def _checkpoint_file() -> Path | None:
    """The checkpoint tmrl's trainer resumes from (RUN_NAME in config.json), if there is one."""
    import tmrl.config.config_constants as cfg

    path = Path(cfg.CHECKPOINT_PATH)
    return path if path.exists() else None


def _send(args: argparse.Namespace) -> int:
    from playerruns.bridge.dataset import resolve_paths
    from playerruns.shipping.link import ServerLink
    from playerruns.shipping.sender import send_runs

    if args.player_runs_paths is None:
        raise PlayerRunsError("--send-player-runs needs --player-runs-paths \"run1.pkl,run2.pkl\"")
    paths = resolve_paths(args.player_runs_paths)
    return send_runs(paths, ServerLink.from_config(), timeout=args.send_timeout, say=partial(print, flush=True))


def _run_tool(command: str, args: argparse.Namespace) -> int:
    """The commands that read run files and write new files (never the inputs)."""
    from playerruns.bridge.dataset import resolve_paths
    from playerruns.bridge.setup import load_setup

    needs_paths = command in ("inspect", "plot", "relabel_rewards", "export_minari")
    if needs_paths and args.player_runs_paths is None:
        raise PlayerRunsError(f"{_flag(command)} needs --player-runs-paths \"run1.pkl,folder,*.pkl\"")
    paths = resolve_paths(args.player_runs_paths) if needs_paths else []
    output_dir = Path(args.output_dir).expanduser() if args.output_dir else None
    say = partial(print, flush=True)
    if command == "plot_training":  # a statistics file: neither TmrlData nor tmrl is needed
        from playerruns.tools.training_plot import plot_training_runs

        return plot_training_runs(Path(args.plot_training).expanduser(), output_dir=output_dir, say=say)
    setup = load_setup()
    if command == "inspect":
        from playerruns.tools.inspection import inspect_runs

        return inspect_runs(paths, setup, as_json=args.json, say=say)
    if command == "plot":
        from playerruns.tools.plotting import plot_runs

        return plot_runs(paths, setup, output_dir=output_dir, say=say)
    if command == "reward_from_run":
        from playerruns.tools.rewards import reward_from_run

        return reward_from_run(Path(args.reward_from_run).expanduser(), setup, say=say)
    if command == "relabel_rewards":
        from playerruns.tools.rewards import relabel_runs

        return relabel_runs(paths, setup, output_dir=output_dir, say=say)
    from playerruns.tools import minari_io

    if command == "export_minari":
        return minari_io.export_runs(paths, args.export_minari, setup, say=say)
    return minari_io.import_dataset(args.import_minari, setup, output_dir=output_dir, say=say)
