"""The ``PLAYER_RUNS`` section of tmrl's config.json, validated when the trainer starts."""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from playerruns.errors import ConfigError

log = logging.getLogger(__name__)

SECTION = "PLAYER_RUNS"
_WINDOWS_PATH = re.compile(r"^([A-Za-z]):[\\/](.*)$")


@dataclass(frozen=True)
class PlayerRunsConfig:
    """Online injection and demo sampling settings (keys of the ``PLAYER_RUNS`` section)."""

    ONLINE_INJECTION: bool = False
    SOURCE_PATH: str = str(Path("~") / "TmrlData" / "player_runs")
    CONSUME_ON_READ: bool = True
    MAX_FILES_PER_UPDATE: int = 1
    DEMO_INJECTION_REPEAT: int = 1
    DEMO_SAMPLING_WEIGHT: float = 1.0
    REJECT_AFTER_SECONDS: float = 60.0  # a bad file unchanged this long is renamed .pkl.rejected

    @property
    def source_path(self) -> Path:
        return Path(os.path.expanduser(self.SOURCE_PATH))


_RULES: dict[str, tuple[str, Any]] = {
    "ONLINE_INJECTION": ("true or false", lambda v: isinstance(v, bool)),
    "SOURCE_PATH": ("a non-empty folder path string", lambda v: isinstance(v, str) and v.strip() != ""),
    "CONSUME_ON_READ": ("true or false", lambda v: isinstance(v, bool)),
    "MAX_FILES_PER_UPDATE": ("a whole number >= 1", lambda v: _is_whole(v) and v >= 1),
    "DEMO_INJECTION_REPEAT": ("a whole number >= 1", lambda v: _is_whole(v) and v >= 1),
    "DEMO_SAMPLING_WEIGHT": ("a finite number >= 0", lambda v: _is_number(v) and math.isfinite(v) and v >= 0),
    "REJECT_AFTER_SECONDS": ("a finite number >= 0", lambda v: _is_number(v) and math.isfinite(v) and v >= 0),
}


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_player_runs(tmrl_config: dict[str, Any], config_file: str = "config.json") -> PlayerRunsConfig:
    """Reads and validates the ``PLAYER_RUNS`` section (absent: all defaults).

    A wrong type or out-of-range value raises ConfigError naming the key and what is allowed;
    an unknown key is warned about (likely a typo).
    """
    section = tmrl_config.get(SECTION, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{config_file}: {SECTION} must be a JSON object")
    known = {f.name for f in fields(PlayerRunsConfig)}
    for key in section:
        if key not in known:
            close = [k for k in known if k.replace("_", "") == str(key).upper().replace("_", "")]
            hint = f" (did you mean {close[0]}?)" if close else ""
            log.warning(f"{config_file}: unknown key {SECTION}.{key} is ignored{hint}; known keys: "
                        f"{', '.join(sorted(known))}")
    values = {}
    for key, (allowed, ok) in _RULES.items():
        if key in section:
            if not ok(section[key]):
                raise ConfigError(f"{config_file}: {SECTION}.{key} is {section[key]!r}, expected {allowed}")
            values[key] = section[key]
    if "DEMO_SAMPLING_WEIGHT" in values:
        values["DEMO_SAMPLING_WEIGHT"] = float(values["DEMO_SAMPLING_WEIGHT"])
    return PlayerRunsConfig(**values)


def wsl_hint(source_path: str) -> str | None:
    """For a Windows path given to a trainer on Linux: the /mnt/<drive>/... path probably meant."""
    if os.name == "nt":
        return None
    match = _WINDOWS_PATH.match(source_path.strip())
    if not match:
        return None
    drive, rest = match.groups()
    return f"/mnt/{drive.lower()}/" + rest.replace("\\", "/").strip("/")
