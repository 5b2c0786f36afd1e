"""The OpenPlanet telemetry a TrackMania recording keeps in each sample's ``info``.

tmrl's TrackMania interfaces read one OpenPlanet packet per step (11 float32: speed, distance,
x, y, z, steer, gas, brake, finished, gear, rpm) and keep only what the observation and reward
need. A recording keeps the whole packet of the step in ``info[TELEMETRY_KEY]`` as one float32
array, in packet order: nothing measured is thrown away (plots, reward trajectories and relabelling
read it), and what the trainer learns from (observations, actions, rewards) is unchanged. One small
array per sample, not a dict of 11 floats: the replay memory keeps every sample's ``info``.

TrackMania's ground plane is x/z (y is up): a run seen from above is ``(x, z)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from playerruns.runs.sample import INFO, Sample

TELEMETRY_KEY = "openplanet"
TELEMETRY_FIELDS = ("speed", "distance", "x", "y", "z", "steer", "gas", "brake", "finished", "gear", "rpm")
POSITION = slice(2, 5)  # x, y, z in the packet
FINISHED = TELEMETRY_FIELDS.index("finished")


def telemetry_record(packet: Sequence[float]) -> np.ndarray:
    """What a recording stores for one OpenPlanet packet."""
    return np.asarray(packet, dtype=np.float32).reshape(len(TELEMETRY_FIELDS))


def telemetry_of(info: Any) -> np.ndarray | None:
    """The telemetry array of a sample's ``info``, or None when it has none (or not of the right shape)."""
    value = info.get(TELEMETRY_KEY) if isinstance(info, dict) else None
    if isinstance(value, np.ndarray) and value.shape == (len(TELEMETRY_FIELDS),):
        return value
    return None


def telemetry_table(samples: list[Sample]) -> np.ndarray | None:
    """An (n samples, 11) float array of the samples' telemetry; None unless every sample has it."""
    rows = []
    for sample in samples:
        row = telemetry_of(sample[INFO])
        if row is None:
            return None
        rows.append(row)
    return np.stack(rows).astype(np.float64) if rows else None


def column(table: np.ndarray, name: str) -> np.ndarray:
    """One named field of a telemetry table."""
    return table[:, TELEMETRY_FIELDS.index(name)]
