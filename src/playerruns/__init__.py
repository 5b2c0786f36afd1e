"""playerruns: bootstrap tmrl training with human-driven player runs.

The package in four parts, each a folder:

- ``playerruns.runs``: run files and their safety (format, safe loading, signatures, validation,
  atomic writes, the one path from a run file to demo samples). Plain data: never imports tmrl.
- ``playerruns.trainer``: the trainer side inside tmrl (the ``PLAYER_RUNS`` config, online injection,
  demo-weighted sampling, tmrl's training and memory classes extended, tmrl's roles).
- ``playerruns.recording``: a person drives, playerruns records (recorder, input sources, keys, the
  TrackMania recording interfaces, the ``--record-episode`` session).
- ``playerruns.builtin``: the built-in default and its experiment (paced environments, scripted
  drivers, synthetic runs, the warmup experiment and ``--demo``), apart from the library.

Beside them, ``tmrl_bridge`` turns the current tmrl configuration into the plain pieces the core
needs (``TmrlSetup``), ``dataset`` imports run files into ``data.pkl``, ``inspection`` and
``plotting`` show runs (``--inspect``, ``--plot``), ``rewards`` derives tmrl's TrackMania reward
file from a run and relabels runs, ``minari_io`` trades runs with Minari datasets, ``cli`` is
``python -m playerruns``. tmrl is imported only by ``tmrl_bridge``, ``trainer``, ``recording.trackmania`` and
``builtin`` (and only inside functions, so ``import playerruns`` never reads ``~/TmrlData``).

What users import is listed in ``__all__`` below.
"""

__version__ = "0.1.0"

from playerruns.bridge.dataset import ImportReport, import_runs, read_dataset, resolve_paths  # noqa: E402
from playerruns.bridge.seeding import seed_everything  # noqa: E402
from playerruns.bridge.setup import TmrlSetup, init_tmrl_data, load_setup  # noqa: E402
from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY, demo_samples, is_demo, load_demo_run  # noqa: E402
from playerruns.runs.errors import ConfigError, PlayerRunsError, RunFileError, ValidationError  # noqa: E402
from playerruns.runs.runfile import (  # noqa: E402
    FORMAT_V1,
    RunFile,
    RunHeader,
    build_metadata,
    load_run,
    read_header,
    save_run,
)
from playerruns.runs.sample import ACT, INFO, OBS, REW, TERMINATED, TRUNCATED, Sample  # noqa: E402
from playerruns.runs.telemetry import TELEMETRY_FIELDS, TELEMETRY_KEY, telemetry_table  # noqa: E402
from playerruns.runs.validation import Compatibility, check_samples  # noqa: E402
from playerruns.trainer.config import PlayerRunsConfig, parse_player_runs  # noqa: E402

__all__ = [
    "__version__",
    # run files
    "RunFile", "FORMAT_V1", "load_run", "save_run", "build_metadata", "RunHeader", "read_header",
    "TELEMETRY_KEY", "TELEMETRY_FIELDS", "telemetry_table",
    "Sample", "ACT", "OBS", "REW", "TERMINATED", "TRUNCATED", "INFO",
    "Compatibility", "check_samples",
    # demos: the one path from a run file to tagged samples
    "DEMO_FLAG", "RUN_ID_KEY", "load_demo_run", "demo_samples", "is_demo",
    # the tmrl configuration and the replay dataset
    "TmrlSetup", "load_setup", "init_tmrl_data",
    "ImportReport", "import_runs", "read_dataset", "resolve_paths",
    # the trainer's PLAYER_RUNS section
    "PlayerRunsConfig", "parse_player_runs",
    # seeding and errors
    "seed_everything",
    "PlayerRunsError", "RunFileError", "ValidationError", "ConfigError",
]
