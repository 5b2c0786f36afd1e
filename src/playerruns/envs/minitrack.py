"""MiniTrack: a small TrackMania for machines without the game, with the interface of tmrl's TM20LIDAR.

A car drives laps of a closed track seen from above. What the agent gets mirrors tmrl's lidar
interface for TrackMania:

- **observation** (a flat ``Box`` of 26 float32, because tmrl's generic path has no rtgym layer to
  append the action buffer, the task appends it itself as rtgym does in the game):
  ``[speed, lidar x 19, previous action x 3, action before x 3]``. ``speed`` is in units of
  ``SPEED_SCALE`` m/s; the 19 lidar beams fan out from -90 to +90 degrees around the car's heading
  (left to right) and measure the distance to the track's borders, in units of ``LIDAR_RANGE`` m
  (1.0: nothing within range); the action buffer holds the last two actions, newest first.
- **action**: ``[gas, brake, steer]`` in ``[-1, 1]``, the order and meaning of tmrl's TrackMania
  interfaces: gas and brake act when positive (a pad's triggers), steer < 0 turns left, > 0 right.
- **reward**: progress along the track's centre line per step, as a share of ``LAP``, counting only
  new ground (driving back and forth earns nothing twice), as tmrl's trajectory-based reward counts
  the trajectory points passed in the game. A lap is worth 400 (``LAP``: about 0.5 per step at
  speed, a reward scale at which SAC's entropy bonus does not drown the task).
- **episode end**: ``terminated`` at the finish line (one lap), or when the car has made no new
  progress (a metre of new ground) for ``STUCK_STEPS`` steps (tmrl ends a stuck TrackMania episode
  the same way), or has touched a border for ``STUCK_STEPS`` steps in a row (scraping along a wall
  gains a metre now and then, but a car pinned to a wall in the game makes no progress);
  ``truncated`` at the step limit (``max_episode_steps``, 1,000 steps = 50 s of driving).

Physics, per step of ``DT`` = 0.05 s (tmrl's 20 Hz): the car is a point with a heading. Gas
accelerates it (up to ``ACCEL`` m/s²), brake decelerates it (``BRAKE`` m/s²), air drag and rolling
resistance slow it (top speed about 26 m/s). Steering turns it at up to ``MAX_YAW_RATE`` rad/s,
less at walking pace, and never faster than its tyres allow: lateral acceleration is capped at
``GRIP`` m/s², so a fast car cannot take a hairpin and must brake first. A car that touches a border
is put back on the track at the border and loses ``WALL_SPEED_LOSS`` of its speed, as a car
scraping a wall in the game. Nothing is random but the start: ``reset(seed=...)`` varies the
start position by a little, so runs differ.

Tracks (``track=`` or their own ids): ``MiniTrack-v0`` is the default circuit (two hairpins, a
chicane, fast sweepers, 780 m); ``MiniTrackOval-v0`` an easy oval; ``MiniTrackHairpins-v0`` a
tight technical track. All are served through tmrl's generic path, e.g. ``"RTGYM_INTERFACE":
"GYM:playerruns.envs.minitrack:MiniTrack-v0"``. ``render()`` draws the track and the car from
above (``render_mode="rgb_array"``), which is what the keyboard window shows a person.

Fast when unpaced (a few thousand steps per second on one core): the lidar only tests the border
segments near the car.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

DT = 0.05  # seconds per step: tmrl's 20 Hz
ACCEL = 9.0  # m/s² at full gas
BRAKE = 18.0  # m/s² at full brake
DRAG = 0.012  # 1/m: air drag deceleration = DRAG * v²
ROLLING = 0.8  # m/s²
MAX_YAW_RATE = 2.2  # rad/s at full steer
GRIP = 14.0  # m/s²: the largest lateral acceleration the tyres hold
WALL_SPEED_LOSS = 0.6  # fraction of the speed lost when touching a border
SPEED_SCALE = 30.0  # observation unit of speed (m/s)
LIDAR_RANGE = 60.0  # m
LIDAR_BEAMS = 19
LIDAR_SPACING = 2  # the lidar sees the borders as segments of this many centre-line points (metres)
STUCK_STEPS = 70  # no new progress (or a border touched) for this long ends the episode (3.5 s, as tmrl's default)
ACT_BUF_LEN = 2  # actions appended to the observation (tmrl's TrackMania default)
MAX_EPISODE_STEPS = 1000
CAR_RADIUS = 1.0  # m: the car touches a border when its centre is this close
LAP = 400.0  # reward of a whole lap: about 0.5 per step at racing speed, the scale SAC learns well at

_BEAM_ANGLES = np.linspace(-math.pi / 2, math.pi / 2, LIDAR_BEAMS)

# Closed tracks as control points (metres), driven in this order; the centre line is a smooth
# periodic spline through them and the track is ``width`` metres wide.
TRACKS: dict[str, dict[str, Any]] = {
    "circuit": {
        "width": 12.0,
        "points": [(0, 0), (80, 0), (150, 10), (190, 50), (180, 95), (140, 105), (120, 80), (95, 70),
                   (70, 95), (80, 140), (60, 175), (10, 170), (-20, 140), (-5, 110), (-40, 90),
                   (-55, 50), (-35, 15)],
    },
    "oval": {
        "width": 16.0,
        "points": [(0, 0), (100, 0), (150, 25), (160, 60), (140, 95), (100, 110), (0, 110), (-50, 90),
                   (-60, 55), (-45, 15)],
    },
    "hairpins": {
        "width": 10.0,
        "points": [(0, 0), (70, 0), (95, 15), (85, 40), (30, 45), (15, 65), (35, 85), (100, 85), (120, 105),
                   (100, 130), (20, 130), (-20, 115), (-30, 70), (-25, 25)],
    },
}
DEFAULT_TRACK = "circuit"
TRACK_IDS = {"circuit": "MiniTrack-v0", "oval": "MiniTrackOval-v0", "hairpins": "MiniTrackHairpins-v0"}


@dataclass(frozen=True)
class Track:
    """A closed track: its centre line sampled about every metre, arc lengths, and both borders."""

    name: str
    width: float
    centre: np.ndarray  # (n, 2)
    arc: np.ndarray  # (n,) arc length at each centre point, from 0
    length: float
    heading: np.ndarray  # (n,) direction of travel at each centre point
    left: np.ndarray  # (n, 2) left border
    right: np.ndarray  # (n, 2) right border

    @staticmethod
    def build(name: str) -> Track:
        if name not in TRACKS:
            raise ValueError(f"unknown MiniTrack track {name!r}; known: {', '.join(TRACKS)}")
        spec = TRACKS[name]
        fine = _periodic_catmull_rom(np.asarray(spec["points"], dtype=np.float64), samples_per_segment=200)
        seg = np.linalg.norm(np.diff(fine, axis=0, append=fine[:1]), axis=1)
        arc_fine = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
        length = float(seg.sum())
        n = int(length)  # about one point per metre, evenly spaced along the line
        arc = np.linspace(0.0, length, n, endpoint=False)
        centre = np.stack([np.interp(arc, arc_fine, fine[:, k], period=length) for k in (0, 1)], axis=1)
        forward = np.roll(centre, -1, axis=0) - np.roll(centre, 1, axis=0)
        heading = np.arctan2(forward[:, 1], forward[:, 0])
        normal_left = np.stack([-np.sin(heading), np.cos(heading)], axis=1)
        half = spec["width"] / 2
        return Track(name=name, width=float(spec["width"]), centre=centre, arc=arc, length=length,
                     heading=heading, left=centre + half * normal_left, right=centre - half * normal_left)


def _periodic_catmull_rom(points: np.ndarray, samples_per_segment: int) -> np.ndarray:
    """A smooth closed curve through ``points`` (centripetal-free, uniform Catmull-Rom)."""
    p0, p1, p2, p3 = (np.roll(points, -k, axis=0) for k in (-1, 0, 1, 2))
    t = np.linspace(0.0, 1.0, samples_per_segment, endpoint=False)[:, None, None]
    curve = 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                   + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3)
    return curve.transpose(1, 0, 2).reshape(-1, 2)


class MiniTrackEnv(gymnasium.Env):
    """The driving task (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(round(1 / DT))}
    controls = "car"  # how a person's gamepad and keyboard map onto the action (playerruns.recording)
    legend = "Bars at the top: white = share of the lap done, blue = speed"  # what render() draws besides the track

    def __init__(self, track: str = DEFAULT_TRACK, render_mode: str | None = None) -> None:
        self.track = Track.build(track)
        self.render_mode = render_mode
        obs_size = 1 + LIDAR_BEAMS + 3 * ACT_BUF_LEN
        low = np.concatenate([[0.0], np.zeros(LIDAR_BEAMS), -np.ones(3 * ACT_BUF_LEN)]).astype(np.float32)
        high = np.concatenate([[2.0], np.ones(LIDAR_BEAMS), np.ones(3 * ACT_BUF_LEN)]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, shape=(obs_size,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        # border segments for the lidar, every LIDAR_SPACING centre points (2 m: the borders are smooth),
        # indexed by the centre point they start at: (n, 2 sides, 2 ends, 2 coordinates)
        k = np.arange(0, len(self.track.centre), LIDAR_SPACING)
        nxt = np.roll(k, -1)
        self._lidar_centre = self.track.centre[k]
        self._segments = np.stack([np.stack([self.track.left[k], self.track.left[nxt]], axis=1),
                                   np.stack([self.track.right[k], self.track.right[nxt]], axis=1)], axis=1)
        self._reach2 = (LIDAR_RANGE + self.track.width) ** 2
        self._renderer: _Renderer | None = None
        self.pos = np.zeros(2)
        self.yaw = 0.0
        self.speed = 0.0
        self.idx = 0
        self.progress = 0.0  # metres along the centre line, unwrapped (may go below 0 when reversing)
        self._arc = 0.0  # position along the centre line, wrapped
        self.best = 0.0  # furthest progress so far
        self._best_at_check = 0.0
        self.since_best = 0  # steps since the car last gained a metre of new ground
        self.on_wall = 0  # consecutive steps the car has touched a border
        self.act_buf = np.zeros((ACT_BUF_LEN, 3), np.float32)
        self.beams = np.ones(LIDAR_BEAMS)

    # -- gymnasium API -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        lateral = float(self.np_random.uniform(-0.15, 0.15)) * self.track.width
        heading = self.track.heading[0]
        self.pos = self.track.centre[0] + lateral * np.array([-math.sin(heading), math.cos(heading)])
        self.yaw = float(heading + self.np_random.uniform(-0.05, 0.05))
        self.speed = 0.0
        self.idx = 0
        self._arc = float(np.dot(self.pos - self.track.centre[0], [math.cos(heading), math.sin(heading)]))
        self.progress = self.best = self._best_at_check = 0.0
        self.since_best = 0
        self.on_wall = 0
        self.act_buf[:] = 0.0
        return self._observe(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        act = np.clip(np.asarray(action, dtype=np.float32).reshape(3), -1.0, 1.0)
        gas, brake, steer = max(float(act[0]), 0.0), max(float(act[1]), 0.0), float(act[2])
        v = self.speed
        accel = ACCEL * gas - BRAKE * brake * (1.0 if v > 0 else 0.0) - DRAG * v * v - (ROLLING if v > 0 else 0.0)
        v = max(0.0, v + accel * DT)
        yaw_rate = steer * MAX_YAW_RATE * min(1.0, v / 4.0)
        if v > 0.1:
            yaw_rate = float(np.clip(yaw_rate, -GRIP / v, GRIP / v))
        self.yaw = (self.yaw - yaw_rate * DT + math.pi) % (2 * math.pi) - math.pi  # steer > 0 turns right
        self.pos = self.pos + v * DT * np.array([math.cos(self.yaw), math.sin(self.yaw)])
        self.speed = v
        self._follow_centre_line()

        gained = min(self.progress, self.track.length) - self.best  # a lap is worth exactly LAP
        reward = 0.0
        if gained > 0:
            reward = LAP * gained / self.track.length
            self.best = min(self.progress, self.track.length)
        if self.best - self._best_at_check >= 1.0:  # a metre of new ground: not stuck
            self.since_best, self._best_at_check = 0, self.best
        else:
            self.since_best += 1
        self.act_buf[1:] = self.act_buf[:-1]
        self.act_buf[0] = act
        finished = self.best >= self.track.length
        stuck = self.since_best >= STUCK_STEPS or self.on_wall >= STUCK_STEPS
        return self._observe(), float(reward), bool(finished or stuck), False, self._info(finished, stuck)

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = _Renderer(self.track)
        return self._renderer.draw(self.pos, self.yaw, self.beams, self.speed, self.lap_fraction)

    # -- internals ----------------------------------------------------------------------------------
    def _info(self, finished: bool = False, stuck: bool = False) -> dict[str, Any]:
        """Where the car is (for plots of a run), how far round the lap, and why the episode ended."""
        info: dict[str, Any] = {"x": float(self.pos[0]), "y": float(self.pos[1]), "speed": float(self.speed),
                                "lap_fraction": self.lap_fraction}
        if finished:
            info["finished"] = True
        if stuck:
            info["stuck"] = True
        return info

    @property
    def lap_fraction(self) -> float:
        return max(0.0, self.best / self.track.length)

    def _follow_centre_line(self) -> None:
        """Updates the nearest centre point, the unwrapped progress, and keeps the car off the borders."""
        track, n = self.track, len(self.track.centre)
        candidates = (self.idx + np.arange(-8, 25)) % n
        delta = track.centre[candidates] - self.pos
        new = int(candidates[int(np.argmin((delta * delta).sum(axis=1)))])
        heading = track.heading[new]
        tangent = np.array([math.cos(heading), math.sin(heading)])
        normal = np.array([-tangent[1], tangent[0]])
        offset = float(np.dot(self.pos - track.centre[new], normal))
        limit = track.width / 2 - CAR_RADIUS
        if abs(offset) > limit:  # a wall: back on the track, speed lost
            self.pos = self.pos - (offset - math.copysign(limit, offset)) * normal
            self.speed *= 1.0 - WALL_SPEED_LOSS
            self.on_wall += 1
        else:
            self.on_wall = 0
        # where the car is along the centre line, continuously: the nearest point plus the way past it
        arc = track.arc[new] + float(np.dot(self.pos - track.centre[new], tangent))
        step = (arc - self._arc + track.length / 2) % track.length - track.length / 2
        self.progress += float(step)
        self._arc = arc
        self.idx = new

    def _observe(self) -> np.ndarray:
        self.beams = self._lidar()
        return np.concatenate([[min(self.speed / SPEED_SCALE, 2.0)], self.beams,
                               self.act_buf.reshape(-1)]).astype(np.float32)

    def _lidar(self) -> np.ndarray:
        """Distance to the nearest border along each beam, in units of LIDAR_RANGE (1.0: none in range)."""
        delta = self._lidar_centre - self.pos
        front = delta[:, 0] * math.cos(self.yaw) + delta[:, 1] * math.sin(self.yaw)
        # centre points whose borders a beam can reach: within range, and not behind the car (beams look forward)
        near = ((delta * delta).sum(axis=1) < self._reach2) & (front > -self.track.width)
        segs = self._segments[near].reshape(-1, 2, 2)  # (m, 2 ends, 2)
        a, b = segs[:, 0], segs[:, 1]
        angles = self.yaw - _BEAM_ANGLES  # left (-90°) to right (+90°): left is +yaw
        dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (k, 2)
        e = b - a  # (m, 2)
        w = a - self.pos  # (m, 2)
        denom = dirs[:, None, 0] * e[None, :, 1] - dirs[:, None, 1] * e[None, :, 0]  # (k, m)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (w[None, :, 0] * e[None, :, 1] - w[None, :, 1] * e[None, :, 0]) / denom  # along the beam
            u = (w[None, :, 0] * dirs[:, None, 1] - w[None, :, 1] * dirs[:, None, 0]) / denom  # along the segment
        hit = (t > 0) & (u >= 0) & (u <= 1) & np.isfinite(t)
        dist = np.where(hit, t, np.inf).min(axis=1)
        return np.minimum(dist / LIDAR_RANGE, 1.0)


class _Renderer:
    """Draws the track and the car from above with pygame, off screen (no display needed)."""

    SIZE = 600

    def __init__(self, track: Track) -> None:
        import os

        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        self.pygame = pygame
        pts = np.concatenate([track.left, track.right])
        lo, hi = pts.min(axis=0) - 10, pts.max(axis=0) + 10
        self.scale = (self.SIZE - 20) / float((hi - lo).max())
        self.origin = lo - ((hi - lo).max() - (hi - lo)) / 2  # the track centred in the square
        self.track = track
        self.background = pygame.Surface((self.SIZE, self.SIZE))
        self.background.fill((34, 110, 44))  # grass
        road = [self._px(p) for p in track.left] + [self._px(p) for p in track.right[::-1]]
        pygame.draw.polygon(self.background, (90, 90, 96), road)
        for side in (track.left, track.right):
            pygame.draw.lines(self.background, (235, 235, 235), True, [self._px(p) for p in side], 2)
        normal = np.array([-math.sin(track.heading[0]), math.cos(track.heading[0])]) * track.width / 2
        pygame.draw.line(self.background, (250, 250, 250), self._px(track.centre[0] + normal),
                         self._px(track.centre[0] - normal), 4)  # start / finish line

    def _px(self, p: np.ndarray) -> tuple[int, int]:
        x = (p[0] - self.origin[0]) * self.scale + 10
        y = self.SIZE - ((p[1] - self.origin[1]) * self.scale + 10)  # y up on screen
        return int(x), int(y)

    def draw(self, pos: np.ndarray, yaw: float, beams: np.ndarray, speed: float, lap: float) -> np.ndarray:
        pygame = self.pygame
        frame = self.background.copy()
        for angle, dist in zip(yaw - _BEAM_ANGLES, beams, strict=True):
            end = pos + dist * LIDAR_RANGE * np.array([math.cos(angle), math.sin(angle)])
            pygame.draw.line(frame, (250, 200, 60), self._px(pos), self._px(end), 1)
        front = np.array([math.cos(yaw), math.sin(yaw)])
        side = np.array([-front[1], front[0]])
        car = [pos + 3.0 * front, pos - 2.0 * front + 1.6 * side, pos - 2.0 * front - 1.6 * side]
        pygame.draw.polygon(frame, (220, 30, 30), [self._px(p) for p in car])
        bar = int((self.SIZE - 20) * min(lap, 1.0))
        pygame.draw.rect(frame, (250, 250, 250), (10, 8, bar, 6))
        speed_bar = int(min(speed / SPEED_SCALE, 1.0) * 120)
        pygame.draw.rect(frame, (60, 160, 250), (10, 18, speed_bar, 6))
        return np.transpose(pygame.surfarray.array3d(frame), (1, 0, 2))


def make(track: str = DEFAULT_TRACK, render_mode: str | None = None) -> gymnasium.Env:
    """The task with gymnasium's step limit (MAX_EPISODE_STEPS)."""
    from gymnasium.wrappers import TimeLimit

    return TimeLimit(MiniTrackEnv(track=track, render_mode=render_mode), max_episode_steps=MAX_EPISODE_STEPS)


for _track, _id in TRACK_IDS.items():
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point="playerruns.envs.minitrack:MiniTrackEnv", kwargs={"track": _track},
                           max_episode_steps=MAX_EPISODE_STEPS)
