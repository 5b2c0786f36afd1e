"""Run files as plain data: their format and header, safe loading, the named sample, signatures,
validation, telemetry, atomic writes and the errors users see. Never imports tmrl."""

from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY, demo_samples, is_demo, load_demo_run
from playerruns.runs.errors import ConfigError, PlayerRunsError, RunFileError, ValidationError
from playerruns.runs.runfile import FORMAT_V1, RunFile, RunHeader, build_metadata, load_run, read_header, save_run
from playerruns.runs.sample import ACT, INFO, OBS, REW, TERMINATED, TRUNCATED, Sample
from playerruns.runs.telemetry import TELEMETRY_FIELDS, TELEMETRY_KEY, telemetry_table
from playerruns.runs.validation import Compatibility, check_samples

__all__ = [
    "RunFile", "FORMAT_V1", "load_run", "save_run", "build_metadata", "RunHeader", "read_header",
    "Sample", "ACT", "OBS", "REW", "TERMINATED", "TRUNCATED", "INFO",
    "TELEMETRY_KEY", "TELEMETRY_FIELDS", "telemetry_table", "Compatibility", "check_samples",
    "DEMO_FLAG", "RUN_ID_KEY", "load_demo_run", "demo_samples", "is_demo",
    "PlayerRunsError", "RunFileError", "ValidationError", "ConfigError",
]
