"""playerruns: bootstrap tmrl training with human-driven player runs.

One folder a part: ``runs`` (run files as plain data), ``bridge`` (tmrl's configuration, the one
demo path into a memory, the ``data.pkl`` import), ``recording``, ``shipping`` (runs through tmrl's
server), ``trainer`` (inside tmrl's trainer, with its statistics channel), ``takeover`` (a person
takes the wheel from a rollout worker), ``tools`` (inspect, plot, rewards, Minari), ``envs`` (toy
tasks and scripted drivers) and ``builtin`` (the experiment and ``--demo``, which the library never
imports). ``cli`` is ``python -m playerruns``.
What users import is listed in ``__all__`` below.
"""

from playerruns.bridge.dataset import ImportReport, import_runs, read_dataset, resolve_paths
from playerruns.bridge.seeding import seed_everything
from playerruns.bridge.setup import TmrlSetup, init_tmrl_data, load_setup
from playerruns.runs import (
    ACT,
    DEMO_FLAG,
    FORMAT_V1,
    INFO,
    OBS,
    REW,
    RUN_ID_KEY,
    TELEMETRY_FIELDS,
    TELEMETRY_KEY,
    TERMINATED,
    TRUNCATED,
    Compatibility,
    ConfigError,
    PlayerRunsError,
    RunFile,
    RunFileError,
    RunHeader,
    Sample,
    ValidationError,
    build_metadata,
    check_samples,
    demo_samples,
    is_demo,
    load_demo_run,
    load_run,
    read_header,
    save_run,
    telemetry_table,
)
from playerruns.trainer.config import PlayerRunsConfig, parse_player_runs
from playerruns.trainer.statistics import read_statistics, statistics_file
from playerruns.version import __version__

__all__ = [
    "__version__",
    # run files
    "RunFile", "FORMAT_V1", "load_run", "save_run", "build_metadata", "RunHeader", "read_header",
    "TELEMETRY_KEY", "TELEMETRY_FIELDS", "telemetry_table",
    "Sample", "ACT", "OBS", "REW", "TERMINATED", "TRUNCATED", "INFO",
    "Compatibility", "check_samples",
    # demos
    "DEMO_FLAG", "RUN_ID_KEY", "load_demo_run", "demo_samples", "is_demo",
    # the tmrl configuration and the replay dataset
    "TmrlSetup", "load_setup", "init_tmrl_data",
    "ImportReport", "import_runs", "read_dataset", "resolve_paths",
    # the trainer's PLAYER_RUNS section and its statistics channel
    "PlayerRunsConfig", "parse_player_runs", "read_statistics", "statistics_file",
    # seeding and errors
    "seed_everything",
    "PlayerRunsError", "RunFileError", "ValidationError", "ConfigError",
]
