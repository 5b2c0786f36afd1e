"""What gymnasium's registry says of a task id: its registration, and the task a wrapper made in code wraps.

A task registered with a ``"module:Class"`` string can be made again from its registration alone (Minari
keeps that registration in a dataset). A task registered with a function is a wrapper made in code; when its
keyword arguments name the task it wraps (``env_id``, a registered id, as playerruns' paced tasks do:
``PacedMiniTrack-v0`` steps ``MiniTrack-v0`` at a real-time pace), that task is its **base task**: the same
observations, actions and rewards without the wrapper, what an evaluation or an offline-RL user drives.
"""

from __future__ import annotations

import importlib
from typing import Any

from playerruns.runs.errors import PlayerRunsError


def task_spec(env_id: str) -> Any:
    """The gymnasium ``EnvSpec`` of ``env_id`` (``module:Name-v0`` ids import their module first, as
    ``gymnasium.make`` does). Raises PlayerRunsError for an id gymnasium does not know."""
    import gymnasium

    module, _, name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
        return gymnasium.spec(name)
    except ImportError as err:
        raise PlayerRunsError(f"the task {env_id}: cannot import {module} ({err})") from None
    except gymnasium.error.Error as err:
        raise PlayerRunsError(f"the task {env_id} is not registered with gymnasium ({err})") from None


def base_task(env_id: str) -> str | None:
    """``env_id`` when it is registered with a ``"module:Class"`` string, the base task of a wrapper that names
    the task it wraps (followed down to one registered with a string), else None."""
    import gymnasium

    spec = task_spec(env_id)
    if isinstance(spec.entry_point, str):
        return env_id
    inner = spec.kwargs.get("env_id")
    if isinstance(inner, str) and inner != env_id and inner in gymnasium.registry:
        return base_task(inner)
    return None


def entry_point_name(env_id: str) -> str:
    """How ``env_id``'s entry point reads in a message (a function's or class's name)."""
    entry = task_spec(env_id).entry_point
    return entry if isinstance(entry, str) else getattr(entry, "__name__", repr(entry))
