"""Trading player runs with Minari, the offline-RL dataset format of the Farama Foundation.

``--export-minari DATASET_ID`` turns run files of a gymnasium task into a new LOCAL Minari dataset
(so offline-RL tools can read people's driving); ``--import-minari DATASET_ID`` turns the episodes
of a local Minari dataset into run files (so a Minari dataset can bootstrap tmrl like player runs).
Neither touches its inputs, neither overwrites anything, neither goes on the network: Minari keeps
its local datasets under ``MINARI_DATASETS_PATH`` (default ``~/.minari/datasets``), which is where
both look.

How the two layouts map onto each other, per episode of n steps::

    run file   (a0 = reset action, o0, 0.0, F, F, i0) (a1, o1, r1, te1, tr1, i1) ... (an, on, rn, te, tr, in)
    Minari     observations o0..on (n + 1)   actions a1..an, rewards, terminations, truncations (n each)
               infos: one entry per observation (n + 1: the reset's, then each step's), as Minari's
               DataCollector records them

A run file's sample holds the action that PRECEDED its observation, so the reset sample's action
(None on a gymnasium task) has no Minari counterpart and step t's action is the run's sample t + 1's.

Both directions are all-or-nothing: every input is read and checked before the first byte is
written, and a dataset is written by Minari in one call (removed again if that call fails).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from playerruns.bridge.setup import TmrlSetup, tmrl_data_folder
from playerruns.envs.registry import base_task, entry_point_name
from playerruns.runs.demos import check_run, load_demo_run
from playerruns.runs.errors import PlayerRunsError, ValidationError
from playerruns.runs.runfile import RunFile, build_metadata, save_run
from playerruns.runs.sample import ACT, INFO, OBS, REW, TERMINATED, TRUNCATED, Sample, split_episodes
from playerruns.runs.signature import Signature
from playerruns.version import __version__

if TYPE_CHECKING:
    from minari import EpisodeData
    from minari.data_collector import EpisodeBuffer

ALGORITHM_NAME = "playerruns player runs"  # what an exported dataset says collected it
EPISODE_RUN_ID_KEY = "playerruns_run_id"  # episode metadata of an exported dataset: the run file it came from
RUN_EPISODE_KEY = "playerruns_run_episode"  # ... and which of that run's episodes it is (from 0)
RUN_IDS_KEY = "playerruns_run_ids"  # dataset metadata: the exported runs, in order


# -- export -------------------------------------------------------------------------------------------


def export_runs(paths: list[Path], dataset_id: str, setup: TmrlSetup, *, say: Callable[[str], None]) -> int:
    """Writes the run files ``paths`` as a NEW local Minari dataset ``dataset_id``; returns 0.

    Only for gymnasium tasks (``setup.env_id``): the dataset records that environment (its spec)
    and the configured spaces, so ``minari load`` users can recover the environment. Every file
    is loaded and validated against the current configuration first; a bad file raises its
    RunFileError/ValidationError and nothing is written. An existing dataset id is refused, never
    overwritten. Each episode of each run becomes one Minari episode, in file order; its episode
    metadata names the run (``playerruns_run_id``) and the run's episode (``playerruns_run_episode``),
    and the dataset metadata lists the run ids (``playerruns_run_ids``). A run id met twice is
    exported once.

    Infos: Minari stores one array per info key and episode, so only the keys whose values are
    numeric scalars (bools, or ints and floats: one kind per key) in EVERY sample of the episode,
    reset sample included, are exported; other keys (strings, arrays, nested dicts, keys missing
    from some samples, keys holding a '/') are dropped. Observations and actions are stored losslessly
    (no JPEG encoding of image observations), rewards as float64.
    """
    if setup.env_id is None:
        raise PlayerRunsError(f"--export-minari: Minari export serves gymnasium tasks (ENV.RTGYM_INTERFACE "
                              f"'GYM:<id>'); the current configuration is {setup.interface}")
    minari = _import_minari()
    _check_dataset_id(dataset_id, "--export-minari")
    target = _datasets_root() / dataset_id
    if target.exists():
        raise _exists_error(dataset_id, target)
    recorded_id = recordable_task(setup.env_id)

    runs: list[RunFile] = []
    seen: set[str] = set()
    for path in paths:
        run = load_demo_run(path, setup.compat)
        if run.run_id not in seen:
            seen.add(run.run_id)
            runs.append(run)

    buffers: list[EpisodeBuffer] = []
    episode_metadata: list[dict[str, Any]] = []
    for run in runs:
        if run.metadata.get("reset_samples") is False:
            raise PlayerRunsError(f"{run.source}: its episodes do not start with a reset sample, so their first "
                                  "observation is unknown: Minari episodes need it")
        for k, episode in enumerate(split_episodes(run.samples)):
            where = f"{run.source} episode {k}"
            buffers.append(_episode_buffer(episode, where))
            episode_metadata.append({EPISODE_RUN_ID_KEY: run.run_id, RUN_EPISODE_KEY: k})
    steps = sum(len(b.rewards) for b in buffers)

    import gymnasium

    env = gymnasium.make(recorded_id)  # gymnasium imports the module of 'module:Env-v0' ids
    description = (f"Player runs of {recorded_id} recorded with playerruns {__version__}: {len(runs)} run file(s), "
                   f"{len(buffers)} episode(s), {steps} steps. Each episode's metadata names its run file "
                   f"('{EPISODE_RUN_ID_KEY}') and the run's episode ('{RUN_EPISODE_KEY}').")
    made = _new_folders(target)
    try:
        with _quiet_minari_warnings():
            dataset = minari.create_dataset_from_buffers(
                dataset_id, buffers, env=env, algorithm_name=ALGORITHM_NAME, description=description,
                observation_space=setup.observation_space, action_space=setup.action_space,
                data_format="hdf5", jpeg_encoding=False)
            dataset.storage.update_episode_metadata(episode_metadata, range(len(buffers)))
            dataset.storage.update_metadata({RUN_IDS_KEY: [run.run_id for run in runs]})
    except ValueError as err:
        if str(err).startswith("A Minari dataset with ID"):  # created by someone else meanwhile: left alone
            raise _exists_error(dataset_id, target) from None
        _remove_partial(made)
        raise PlayerRunsError(f"--export-minari {dataset_id}: Minari refused the dataset: {err}"
                              .replace("\n", " ")) from None
    except BaseException:
        _remove_partial(made)
        raise
    finally:
        env.close()
    task = recorded_id if recorded_id == setup.env_id else f"{recorded_id} (the task {setup.env_id} wraps)"
    say(f"exported {len(runs)} run file(s) to the Minari dataset '{dataset_id}': {len(buffers)} episode(s), "
        f"{steps} steps of {task}, stored in {target}")
    return 0


def recordable_task(env_id: str) -> str:
    """The gymnasium id an exported dataset records for the configured task ``env_id``: its base task
    (``playerruns.envs.registry``), since Minari can keep only a task registered with a ``"module:Class"``
    string; a task without one is refused in one line saying what to do."""
    try:
        recorded = base_task(env_id)
    except PlayerRunsError as err:
        raise PlayerRunsError(f"--export-minari: {err}") from None
    if recorded is None:
        raise PlayerRunsError(f"--export-minari: Minari can record a task only when gymnasium registered it with a "
                              f"'module:Class' entry point, and {env_id} was registered with "
                              f"{entry_point_name(env_id)!r}: register it with a string entry point "
                              "(gymnasium.register(id=..., entry_point='package.module:Env')), or set "
                              "ENV.RTGYM_INTERFACE to the task it wraps while you export")
    return recorded


def _episode_buffer(episode: list[Sample], where: str) -> EpisodeBuffer:
    """One run-file episode (reset sample + steps) as a Minari EpisodeBuffer."""
    from minari.data_collector import EpisodeBuffer

    steps = episode[1:]
    if not steps:
        raise PlayerRunsError(f"{where}: holds a reset sample and no step: a Minari episode needs at least one")
    return EpisodeBuffer(
        observations=_stack([s[OBS] for s in episode], where),
        actions=_stack([s[ACT] for s in steps], where),
        rewards=np.array([float(s[REW]) for s in steps], dtype=np.float64),
        terminations=np.array([bool(s[TERMINATED]) for s in steps], dtype=bool),
        truncations=np.array([bool(s[TRUNCATED]) for s in steps], dtype=bool),
        infos=_info_columns([s[INFO] for s in episode]) or None,
    )


def _stack(values: list[Any], where: str) -> Any:
    """Per-step values (arrays, or tuples of arrays) as Minari's batched layout: one array per leaf."""
    first = values[0]
    if isinstance(first, np.ndarray):
        return np.stack(values)
    if isinstance(first, (tuple, list)):
        return tuple(_stack(list(leaf), where) for leaf in zip(*values, strict=True))
    raise PlayerRunsError(f"{where}: holds a {type(first).__name__} where Minari needs arrays")


def _info_columns(infos: list[dict[Any, Any]]) -> dict[str, np.ndarray]:
    """The info keys Minari can store (see export_runs), one array per key over the episode's samples."""
    columns: dict[str, np.ndarray] = {}
    for key in infos[0]:
        if not isinstance(key, str) or not key or "/" in key or key == ".":
            continue
        if not all(key in info for info in infos):
            continue
        column = _scalar_column([info[key] for info in infos])
        if column is not None:
            columns[key] = column
    return columns


_BOOLS = (bool, np.bool_)
_NUMBERS = (int, float, np.integer, np.floating)


def _scalar_column(values: list[Any]) -> np.ndarray | None:
    """``values`` as one array when they are all bools, or all real numbers; else None."""
    if all(isinstance(v, _BOOLS) for v in values):
        return np.array(values, dtype=bool)
    if any(isinstance(v, _BOOLS) or not isinstance(v, _NUMBERS) for v in values):
        return None
    column = np.asarray(values)
    return column if column.dtype.kind in "iuf" else None  # 'O': an int beyond 64 bits


@contextmanager
def _quiet_minari_warnings() -> Iterator[None]:
    """Hides Minari's advice about optional metadata nobody has for player runs (author, e-mail, code link,
    evaluation environment): the CLI prints one summary line."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`(code_permalink|author|author_email|eval_env)` is set to None")
        yield


def _exists_error(dataset_id: str, target: Path) -> PlayerRunsError:
    return PlayerRunsError(f"--export-minari: the Minari dataset '{dataset_id}' already exists ({target}); "
                           "choose another id or version (e.g. -v1): an existing dataset is never overwritten")


def _new_folders(target: Path) -> list[Path]:
    """The folders an export into ``target`` creates: the dataset's, and its namespace's and the datasets
    root when they do not exist yet (Minari writes a namespace's metadata file before the dataset)."""
    made = [target]
    for parent in target.parents:
        if parent.exists():
            break
        made.append(parent)
    return made


def _remove_partial(made: list[Path]) -> None:
    """Removes what a failed export of ours left: the folders it created (the id was checked free before it
    started, so nothing of anyone else's is in them)."""
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


# -- import -------------------------------------------------------------------------------------------


def import_dataset(dataset_id: str, setup: TmrlSetup, *, output_dir: Path | None,
                   say: Callable[[str], None]) -> int:
    """Turns each episode of the LOCAL Minari dataset ``dataset_id`` into a run file; returns 0.

    Never downloads: a dataset that is not in the local Minari folder is refused. Files go to
    ``output_dir`` (default ``~/TmrlData/player_runs/minari/<id with '/' as '_'>``), one
    ``<run id>.pkl`` per episode (``episode_run_id``: the same episode always gets the same id, so a
    file already there is left as it is and a second import into data.pkl skips the run), holding a
    reset sample (the configuration's default action, o0, reward 0.0, the reset's info) then one
    sample per step (a_t, o_t+1, r_t, flags, that step's info); an episode whose last step has
    neither flag set (cut short) gets ``truncated`` there.
    Observations are cast to the dtype the configuration expects when the shapes agree (e.g. a
    float64 dataset into a float32 task), actions to float32; every converted run is then validated
    against the current configuration, and only when ALL episodes pass is anything written.

    Infos: per-step values become Python scalars (numpy arrays stay arrays, byte strings become
    str); an info key whose array has neither n + 1 entries (Minari's layout: the reset's, then each
    step's) nor n (steps only) is dropped. The run files' metadata name the dataset and episode
    (``minari_dataset``, ``minari_episode``) and, for a dataset exported by playerruns, the run the
    episode came from (``minari_source_run_id``).
    """
    minari = _import_minari()
    _check_dataset_id(dataset_id, "--import-minari")
    root = _datasets_root()
    data_path = root / dataset_id / "data"
    if not data_path.is_dir():
        raise PlayerRunsError(f"--import-minari: no local Minari dataset '{dataset_id}' in {root} (see "
                              "`minari list local`; MINARI_DATASETS_PATH chooses that folder); playerruns never "
                              f"downloads: to use a remote dataset, run `minari download {dataset_id}` first")
    try:
        dataset = minari.MinariDataset(str(data_path))
        total = int(dataset.total_episodes)
        episode_ids = [int(i) for i in dataset.episode_indices]
        episode_meta = list(dataset.storage.get_episode_metadata(episode_ids))
    except Exception as err:  # Minari and h5py raise many types for an unreadable dataset
        raise PlayerRunsError(f"--import-minari: {data_path}: not a readable Minari dataset "
                              f"({type(err).__name__}: {err})".replace("\n", " ")) from None

    runs: list[RunFile] = []
    episodes = tqdm(dataset.iterate_episodes(), total=total, desc="reading Minari episodes", unit="episode",
                    file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
    try:
        for episode, meta in zip(episodes, episode_meta, strict=True):
            run = _episode_run(episode, meta, dataset_id, setup)
            check_run(run, setup.compat, f"{dataset_id} episode {episode.id}")
            runs.append(run)
    finally:
        episodes.close()

    folder = output_dir if output_dir is not None else default_output_dir(dataset_id)
    folder.mkdir(parents=True, exist_ok=True)
    there = 0
    for run in runs:
        target = folder / f"{run.run_id}.pkl"
        if target.exists():  # the same episode, imported before: its run id says so (never overwritten)
            there += 1
            continue
        save_run(target, run)
    steps = sum(len(run.samples) - 1 for run in runs)
    kept = f" ({there} already there from an earlier import, left as they were)" if there else ""
    say(f"imported the Minari dataset '{dataset_id}': {len(runs)} episode(s), {steps} steps -> {len(runs)} "
        f"run file(s) in {folder}{kept}")
    return 0


def default_output_dir(dataset_id: str) -> Path:
    """Where ``--import-minari`` writes without ``--output-dir``."""
    return tmrl_data_folder() / "player_runs" / "minari" / dataset_id.replace("/", "_")


def _episode_run(episode: EpisodeData, meta: dict[str, Any], dataset_id: str, setup: TmrlSetup) -> RunFile:
    """One Minari EpisodeData as a run file (not validated against the configuration yet)."""
    where = f"{dataset_id} episode {episode.id}"
    n = len(episode.rewards)
    if n == 0:
        raise ValidationError(f"{where}: holds no step")
    observations = _cast_like(episode.observations, setup.compat.obs_signature)
    count = _length(observations)
    if count != n + 1:
        raise ValidationError(f"{where}: {count} observations for {n} steps, expected {n + 1} (o0 to o{n})")
    actions = episode.actions
    if not isinstance(actions, np.ndarray) or actions.dtype.kind not in "biuf" or len(actions) != n:
        raise ValidationError(f"{where}: actions must be one numeric array of {n} entries (a Box action space); "
                              f"found {_kind(actions)}")
    actions = actions.astype(np.float32)
    rewards, terminations, truncations = episode.rewards, episode.terminations, episode.truncations
    infos = _step_infos(episode.infos, n)

    samples: list[Sample] = [(setup.default_action, _at(observations, 0), 0.0, False, False, infos[0])]
    for t in range(n):
        terminated, truncated = bool(terminations[t]), bool(truncations[t])
        last = t == n - 1
        if (terminated or truncated) and not last:
            raise ValidationError(f"{where}: step {t} ends the episode (terminated or truncated) but is not its "
                                  f"last step ({n - 1})")
        if last and not (terminated or truncated):
            truncated = True  # a cut episode: run files end each episode with a flag
        samples.append((actions[t].copy(), _at(observations, t + 1), float(rewards[t]), terminated, truncated,
                        infos[t + 1]))
    extra: dict[str, Any] = {}
    source_run = meta.get(EPISODE_RUN_ID_KEY)
    if source_run is not None:
        extra["minari_source_run_id"] = _python_value(source_run)
    metadata = build_metadata(samples, interface=setup.interface, input_device=f"minari:{dataset_id}",
                              minari_dataset=dataset_id, minari_episode=int(episode.id), **extra)
    return RunFile(samples=samples, metadata=metadata, run_id=episode_run_id(dataset_id, episode))


def episode_run_id(dataset_id: str, episode: EpisodeData) -> str:
    """The run id of a Minari episode: the same for the same episode of the same dataset (a second import is
    then skipped as a run already in the dataset), another for anything else. A digest of the dataset id, the
    episode's id and its data (observations, actions, rewards, end flags)."""
    digest = hashlib.sha256(f"{dataset_id}\0{int(episode.id)}\0".encode())
    for column in (episode.observations, episode.actions, episode.rewards, episode.terminations,
                   episode.truncations):
        for leaf in _leaves(column):
            digest.update(f"{leaf.dtype.str}{leaf.shape}".encode())
            digest.update(np.ascontiguousarray(leaf).tobytes())
    return f"minari-{digest.hexdigest()[:24]}"


def _leaves(batch: Any) -> Iterator[np.ndarray]:
    """The arrays of a batched (possibly nested) Minari value, in a fixed order."""
    if isinstance(batch, dict):
        for key in sorted(batch):
            yield from _leaves(batch[key])
    elif isinstance(batch, (tuple, list)):
        for item in batch:
            yield from _leaves(item)
    else:
        yield np.asarray(batch)


def _cast_like(batch: Any, sig: Signature) -> Any:
    """Minari's batched observations cast to the configured dtypes where the shapes agree (else as they are:
    validation names the mismatch). Casting goes within a kind or from integers/bools to floats."""
    if sig.kind == "array" and isinstance(batch, np.ndarray) and batch.shape[1:] == sig.shape:
        dtype = np.dtype(sig.dtype)
        if batch.dtype == dtype:
            return batch
        if batch.dtype.kind == dtype.kind or (dtype.kind == "f" and batch.dtype.kind in "biu"):
            return batch.astype(dtype)
        return batch
    if sig.kind == "tuple" and isinstance(batch, tuple) and len(batch) == len(sig.children):
        return tuple(_cast_like(b, s) for b, s in zip(batch, sig.children, strict=True))
    return batch


def _length(batch: Any) -> int:
    """Entries along the time axis of a batched (possibly nested) value."""
    if isinstance(batch, dict):
        return _length(next(iter(batch.values()))) if batch else 0
    if isinstance(batch, tuple):
        return _length(batch[0]) if batch else 0
    return len(batch)


def _at(batch: Any, t: int) -> Any:
    """Entry ``t`` of a batched value (arrays copied out, so each sample owns its observation)."""
    if isinstance(batch, np.ndarray):
        return batch[t].copy()
    if isinstance(batch, tuple):
        return tuple(_at(b, t) for b in batch)
    if isinstance(batch, dict):
        return {k: _at(v, t) for k, v in batch.items()}
    return batch[t]


def _step_infos(infos: dict[str, Any] | None, n: int) -> list[dict[str, Any]]:
    """Minari's info columns as n + 1 dicts: the reset's, then each step's (see import_dataset)."""
    out: list[dict[str, Any]] = [{} for _ in range(n + 1)]
    for key, column in (infos or {}).items():
        if isinstance(column, dict):
            for t, nested in enumerate(_step_infos(column, n)):
                if nested:
                    out[t][key] = nested
            continue
        if not isinstance(column, np.ndarray) or column.ndim == 0 or len(column) not in (n, n + 1):
            continue
        offset = n + 1 - len(column)  # 1 when the reset has no entry
        for row, value in enumerate(column):
            out[row + offset][key] = _python_value(value)
    return out


def _python_value(value: Any) -> Any:
    """A value read from Minari as plain Python: numpy scalars as int/float/bool, bytes as str."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufc":
            return value.copy()
        return [_python_value(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} and shape {list(value.shape)}"
    return f"a {type(value).__name__}"


# -- both ---------------------------------------------------------------------------------------------


def _import_minari() -> Any:
    try:
        import minari
    except ImportError as err:
        raise PlayerRunsError(f"Minari is not installed ({err}): pip install 'minari[hdf5]'") from None
    return minari


def _check_dataset_id(dataset_id: str, flag: str) -> None:
    """Refuses an id Minari would not parse (it also keeps the id a plain path below the datasets folder)."""
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except (TypeError, ValueError):  # TypeError: Minari 0.5.4 fails on an id without its version
        raise PlayerRunsError(f"{flag}: {dataset_id!r} is not a Minari dataset id: expected "
                              "(namespace/)name-v<version>, e.g. minitrack/player-runs-v0") from None


def _datasets_root() -> Path:
    """Minari's local datasets folder, as ``minari.storage.get_dataset_path`` finds it (without creating it)."""
    configured = os.environ.get("MINARI_DATASETS_PATH")
    if configured is not None:
        return Path(configured)
    return Path(os.path.expanduser("~")) / ".minari" / "datasets"
