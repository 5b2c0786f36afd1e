"""MiniTrack, the built-in driving task: how fast it steps, and how hard it is to finish a lap.

Prints, for each track:
- the unpaced step rate on one core (the scripted line follower driving whole laps, so the lidar
  works as it does during training), target at least 2,000 steps/s;
- how often random driving (uniform actions in [-1, 1]^3, what SAC starts from) finishes a lap, and
  how far it gets (it should almost never finish);
- how often the scripted stand-in for a person (``playerruns.envs.drivers.line_follower``)
  finishes, and in how many steps;
- how much faster than the stand-in a lap can be (issue 21 asks for an agent 10 % faster than it):
  the stand-in with no steering noise and no hesitation, at its own daring and at 1.15, 1.3 and 1.5
  times it (braking later for what is ahead), and the bound no line beats: the track's centre line
  at top speed from the start.

How many steps tmrl's SAC needs from scratch is measured through tmrl's real roles by the warmup
benchmark (``benchmarks/warmup.py --task minitrack``), whose scratch arm is exactly that.

Usage: ``python benchmarks/driving_task.py [--episodes 200] [--tracks circuit,oval,hairpins]``.
The last line is ``steps_per_second: <number>`` for the default track.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from playerruns.envs import minitrack as driving
from playerruns.envs.drivers import PRACTISED, Skill, line_follower


def run_episodes(track: str, policy_for: object, episodes: int, seed: int) -> tuple[list[bool], list[int], list[float],
                                                                                    float]:
    """(finished, steps, lap fractions, steps per second) over ``episodes`` episodes."""
    env = driving.make(track)
    finished, steps, laps = [], [], []
    total_steps, elapsed = 0, 0.0
    for ep in range(episodes):
        rng = np.random.default_rng(seed + ep)
        policy = policy_for(rng, env)  # type: ignore[operator]
        obs, _ = env.reset(seed=seed + ep)
        n, info = 0, {}
        start = time.perf_counter()
        while True:
            obs, _, terminated, truncated, info = env.step(policy(obs))
            n += 1
            if terminated or truncated:
                break
        elapsed += time.perf_counter() - start
        total_steps += n
        finished.append(bool(info.get("finished", False)))
        steps.append(n)
        laps.append(float(info["lap_fraction"]))
    return finished, steps, laps, total_steps / elapsed


def headroom(track: str, episodes: int) -> None:
    """Prints the laps of steadier, more daring versions of the stand-in, and the top-speed bound."""
    def median_lap(skill: Skill) -> str:
        fin, steps, _, _ = run_episodes(track, lambda rng, env: line_follower(rng=rng, skill=skill), episodes, 1000)
        laps = [s for s, f in zip(steps, fin, strict=True) if f]
        return f"{np.median(laps):.0f} ({len(laps)}/{len(fin)} laps)" if laps else f"no lap in {len(fin)}"

    for daring in (1.0, 1.15, 1.3, 1.5):
        steady = Skill(noise=0.0, hesitation=0.0, caution=daring * PRACTISED.caution, twitch=0.0)
        print(f"  no steering noise, no hesitation, {daring:.2f}x its daring: median lap {median_lap(steady)} steps")
    top_speed = ((driving.ACCEL - driving.ROLLING) / driving.DRAG) ** 0.5
    bound = driving.Track.build(track).length / (top_speed * driving.DT)
    print(f"  bound: the centre line at top speed ({top_speed:.1f} m/s) all the way: {bound:.0f} steps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200, help="random-driving episodes per track")
    parser.add_argument("--follower-episodes", type=int, default=20, help="line-follower episodes per track")
    parser.add_argument("--tracks", default=",".join(driving.TRACKS))
    args = parser.parse_args()
    rate = 0.0
    for track in args.tracks.split(","):
        print(f"{track} ({driving.TRACK_IDS[track]}, {driving.Track.build(track).length:.0f} m):")
        fin, steps, laps, rate_f = run_episodes(track, lambda rng, env: line_follower(rng=rng),
                                                args.follower_episodes, 1000)
        print(f"  line follower: finished {sum(fin)}/{len(fin)}, steps to finish median "
              f"{np.median([s for s, f in zip(steps, fin, strict=True) if f] or [0]):.0f} "
              f"(min {min(steps)}, max {max(steps)}); unpaced {rate_f:,.0f} steps/s")
        fin, steps, laps, rate_r = run_episodes(
            track, lambda rng, env: (lambda obs: rng.uniform(-1.0, 1.0, 3).astype(np.float32)), args.episodes, 0)
        print(f"  random driving: finished {sum(fin)}/{len(fin)}; lap reached median {100 * np.median(laps):.1f} %, "
              f"best {100 * max(laps):.1f} %; episodes last {np.median(steps):.0f} steps (median, stuck or limit); "
              f"unpaced {rate_r:,.0f} steps/s")
        headroom(track, args.follower_episodes)
        if track == driving.DEFAULT_TRACK:
            rate = rate_f
    print("target: at least 2,000 steps/s on one core")
    print(f"steps_per_second: {rate:.0f}")


if __name__ == "__main__":
    main()
