"""Toy tasks that stand in for the game, and scripted stand-ins for a person (library side).

``minitrack``: MiniTrack, a top-down driving task shaped like TrackMania's data path;
``position_only``: MountainCarContinuous seeing only its position (a task that needs memory);
``drivers``: scripted drivers (honest, imperfect stand-ins for a person) for recording and tests;
``registry``: what gymnasium's registry says of a task id (the task a paced wrapper wraps).
Importing this package registers the gymnasium ids (``playerruns.envs.minitrack:MiniTrack-v0``, ...).
"""

from playerruns.envs import minitrack, position_only, registry
from playerruns.envs.minitrack import TRACK_IDS, MiniTrackEnv
from playerruns.envs.position_only import POSITION_ONLY_ID, PositionOnly

__all__ = ["minitrack", "position_only", "registry", "MiniTrackEnv", "TRACK_IDS", "PositionOnly", "POSITION_ONLY_ID"]
