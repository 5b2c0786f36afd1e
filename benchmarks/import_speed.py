"""Import speed and peak memory of ``playerruns.bridge.dataset.import_runs`` at the TM20LIDAR configuration.

What it measures. 300,000 raw TM20LIDAR samples (default), spread over run files of 2,000 samples
(150 files), are imported into a fresh ``data.pkl`` with ``import_runs(files, setup, overwrite=True)``.
Side by side, in the same process and interleaved with the imports, it times a *floor*: the work
no import can avoid, i.e. unpickling every input file with plain ``pickle.load`` and pickling the
resulting dataset (the very list the import wrote) with ``pickle.dump(..., protocol=4)`` + flush +
fsync. Everything else the import does (restricted unpickler, schema and configuration checks,
tagging, the sample compressor, tmrl's ``append_buffer``, the file lock, the rename) is overhead on
top of that floor. Each measurement is repeated (3 times by default, import and floor alternating)
and the medians are compared: target ratio <= 2. The import does not write with ``pickle.dump``
but with ``playerruns.bridge.dataset.write_dataset`` (a pickle in small pieces, see its docstring), which
is faster: a second floor that writes with it instead is timed too, and its ratio printed beside.

Peak memory. The import and the floor each run once more in a fresh child process (this script with
``--child import|floor|floor-writer``), measured the same way: the child's peak RSS minus its RSS
right before the work, after the same start-up (importing tmrl, loading the configuration). The
floor child first loads the dataset the import wrote (plain ``pickle.load``; the import builds it,
the floor needs it in memory to pickle it), then resets the peak, so its growth counts the dataset
held in memory but not the transient of loading it; then it unpickles ALL the inputs (kept, as in
the timed floor) and pickles the dataset. Target: import peak growth <= floor peak growth. The
peaks are also related to the dataset's size in memory, estimated two ways: the size of data.pkl on
disk, and a deep size of the loaded dataset (ndarray ``nbytes`` + ``sys.getsizeof`` of lists,
tuples, dicts and scalars, each object counted once).
The peak is Linux's VmHWM, reset to the current RSS right before the work: ``ru_maxrss`` (also
printed) cannot be reset and, in a subprocess, still holds the parent's peak (see peak_rss_kib).

Why. Players import many hours of driving (20 samples/s, so 300,000 samples is about 4 hours) before
training; the import must stay a small multiple of the I/O it cannot avoid and must fit in memory.

Run: ``python benchmarks/import_speed.py [--samples 300000] [--file-samples 2000] [--repeats 3]``.
Last two lines of stdout: ``import_peak_ratio_to_floor: <import peak growth / floor peak growth>``
and ``import_ratio_to_floor: <median import / median floor>``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_RATIO = 2.0
CHILD_MARKER = "PLAYERRUNS_CHILD_RESULT "


def _proc_status_kib(field: str) -> int | None:
    """A ``Vm...`` field of /proc/self/status in KiB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def ru_maxrss_kib() -> int:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in KiB (it is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def current_rss_kib() -> int:
    """The process's resident set size now, in KiB (VmRSS; the peak where /proc is missing)."""
    rss = _proc_status_kib("VmRSS")
    return rss if rss is not None else ru_maxrss_kib()


def peak_rss_kib() -> int:
    """The peak RSS of the process's memory map in KiB (VmHWM; ru_maxrss where /proc is missing).

    On Linux ru_maxrss is the max of the current memory map's HWM and a per-process record that
    exec() fills with the HWM of the memory map it replaces: a child started by subprocess (vfork)
    inherits its PARENT's peak there, and exiting threads add theirs. It cannot be reset, so
    ru_maxrss minus the RSS before the import says nothing here. VmHWM can be reset and is used;
    both are reported.
    """
    hwm = _proc_status_kib("VmHWM")
    return hwm if hwm is not None else ru_maxrss_kib()


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False when impossible.

    Without it the child's peak would still hold the transient peak of importing tmrl/torch,
    which can exceed everything the import itself does.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def deep_size(obj: Any) -> tuple[int, int]:
    """(estimate, arrays' share) of ``obj``'s size in memory, each object counted once.

    ndarrays count their ``nbytes``; lists, tuples, dicts, strings and scalars their ``sys.getsizeof``
    (containers recursively). The second number is the ndarray object headers the estimate leaves out.
    """
    seen: set[int] = set()
    total = 0
    headers = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            total += o.nbytes
            headers += sys.getsizeof(o) - (o.nbytes if o.base is None else 0)
        elif isinstance(o, (list, tuple)):
            total += sys.getsizeof(o)
            stack.extend(o)
        elif isinstance(o, dict):
            total += sys.getsizeof(o)
            stack.extend(o.keys())
            stack.extend(o.values())
        else:
            total += sys.getsizeof(o)
    return total, headers


def make_run_files(setup: Any, folder: Path, samples: int, file_samples: int) -> list[str]:
    """Writes ceil(samples / file_samples) run files of TM20LIDAR samples (one synthetic run, many run ids)."""
    from playerruns.runs.runfile import save_run
    from playerruns.tools.synthetic import synthetic_run

    if file_samples < 4 or file_samples % 2:
        raise SystemExit("--file-samples must be an even number >= 4 (2 episodes of a reset sample + steps)")
    n_files = -(-samples // file_samples)
    folder.mkdir(parents=True, exist_ok=True)
    run = synthetic_run(setup, episodes=2, steps=file_samples // 2 - 1, rng=np.random.default_rng(0))
    assert len(run.samples) == file_samples, (len(run.samples), file_samples)
    paths = []
    for i in range(n_files):
        run.run_id = f"bench-{i:04d}"
        paths.append(str(save_run(folder / f"run-{i:04d}.pkl", run)))
    return paths


def time_import(files: list[str], setup: Any, dataset_file: Path) -> tuple[float, Any]:
    from playerruns.bridge.dataset import import_runs

    dataset_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    report = import_runs(files, setup, overwrite=True)
    return time.perf_counter() - t0, report


def load_inputs(files: list[str]) -> list[Any]:
    """Every input file, plain-unpickled and all kept: the floor's reading."""
    loaded = []
    for path in files:
        with open(path, "rb") as f:
            loaded.append(pickle.load(f))
    return loaded


def write_floor(data: Any, out_file: Path, writer: str) -> None:
    """Pickles ``data`` to ``out_file`` + flush + fsync: with ``pickle.dump(protocol=4)`` ("pickle")
    or with the import's own serializer ``playerruns.bridge.dataset.dump_dataset`` ("writer")."""
    from playerruns.bridge.dataset import dump_dataset

    with open(out_file, "wb") as f:
        if writer == "pickle":
            pickle.dump(data, f, protocol=4)
        else:
            dump_dataset(data, f)
        f.flush()
        os.fsync(f.fileno())


def time_floor(files: list[str], data: Any, out_file: Path, writer: str = "pickle") -> tuple[float, float]:
    """(unpickle inputs, pickle dataset) seconds: the unavoidable part of an import."""
    out_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    loaded = load_inputs(files)
    t1 = time.perf_counter()
    write_floor(data, out_file, writer)
    t2 = time.perf_counter()
    del loaded
    out_file.unlink()
    return t1 - t0, t2 - t1


def child(mode: str, home: Path, files_list: Path) -> None:
    """One import (or floor) in a fresh process; prints its memory figures as one JSON line.

    Both kinds start alike (tmrl imported, configuration loaded) and measure alike: VmHWM reset to
    the RSS right before the work, growth = peak - RSS before. The floor first loads the dataset the
    import wrote (that RSS counts in its growth, the transient of loading it does not).
    """
    os.environ["HOME"] = str(home)
    from playerruns.bridge.dataset import import_runs
    from playerruns.bridge.setup import load_setup

    setup = load_setup()
    files = files_list.read_text().split("\n")
    dataset_file = setup.dataset_path / "data.pkl"
    gc.collect()
    startup_peak = peak_rss_kib()
    before = current_rss_kib()
    extra: dict[str, Any] = {}
    if mode != "import":
        reset_peak_rss()
        with open(dataset_file, "rb") as f:
            data = pickle.load(f)
        gc.collect()
        extra = {"load_peak_kib": peak_rss_kib(), "rss_with_dataset_kib": current_rss_kib()}
    reset = reset_peak_rss()
    ru_before = ru_maxrss_kib()
    t0 = time.perf_counter()
    if mode == "import":
        report = import_runs(files, setup, overwrite=True)
        extra["samples"] = report.samples
    else:
        loaded = load_inputs(files)
        write_floor(data, setup.dataset_path / "floor.pkl", "pickle" if mode == "floor" else "writer")
        del loaded
        (setup.dataset_path / "floor.pkl").unlink()
    seconds = time.perf_counter() - t0
    peak = peak_rss_kib()
    ru_peak = ru_maxrss_kib()
    print(CHILD_MARKER + json.dumps({"rss_before_kib": before, "peak_kib": peak, "ru_maxrss_before_kib": ru_before,
                                     "ru_maxrss_kib": ru_peak, "startup_peak_kib": startup_peak,
                                     "peak_reset": reset, "seconds": seconds, **extra}), flush=True)


def measure_memory(mode: str, home: Path, files: list[str]) -> dict[str, Any]:
    files_list = home / "files.txt"
    files_list.write_text("\n".join(files))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", mode, str(home),
                           str(files_list)], capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(CHILD_MARKER):
            return json.loads(line[len(CHILD_MARKER):])
    raise RuntimeError(f"memory child ({mode}) failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300_000, help="raw samples to import in total")
    parser.add_argument("--file-samples", type=int, default=2_000, help="samples per run file (even)")
    parser.add_argument("--repeats", type=int, default=3, help="timed imports (and floors), interleaved")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "HOME", "FILES_LIST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return

    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-import-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json when first imported
    try:
        run_benchmark(home, args)
    finally:
        if args.keep:
            print(f"(kept {home})", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


def run_benchmark(home: Path, args: argparse.Namespace) -> None:
    from playerruns.bridge.setup import init_tmrl_data, load_setup

    init_tmrl_data(home, interface="TM20LIDAR", overrides={"MEMORY_SIZE": 1_000_000})
    setup = load_setup()
    dataset_file = setup.dataset_path / "data.pkl"
    floor_file = setup.dataset_path / "floor.pkl"

    t0 = time.perf_counter()
    files = make_run_files(setup, home / "runs", args.samples, args.file_samples)
    gen_seconds = time.perf_counter() - t0
    n_samples = len(files) * args.file_samples
    input_bytes = sum(os.path.getsize(p) for p in files)

    # One untimed import: warms the page cache and yields the dataset the floor pickles.
    _, report = time_import(files, setup, dataset_file)
    if report.samples != n_samples or report.dataset_samples != n_samples or report.trimmed:
        raise RuntimeError(f"unexpected import report: {report.summary()}")
    dataset_bytes = dataset_file.stat().st_size
    with open(dataset_file, "rb") as f:
        data = pickle.load(f)
    deep_bytes, header_bytes = deep_size(data)
    write_floor(data, floor_file, "pickle")
    pickle_bytes = floor_file.stat().st_size
    floor_file.unlink()

    imports: list[float] = []
    floors: list[tuple[float, float]] = []
    writer_floors: list[tuple[float, float]] = []
    for _ in range(args.repeats):
        seconds, _ = time_import(files, setup, dataset_file)
        imports.append(seconds)
        floors.append(time_floor(files, data, floor_file, "pickle"))
        writer_floors.append(time_floor(files, data, floor_file, "writer"))
    del data

    # the children: the floors load the data.pkl the last timed import wrote; the import replaces it
    mems = {mode: measure_memory(mode, home, files) for mode in ("floor", "floor-writer", "import")}
    dataset_file.unlink(missing_ok=True)

    med_import = statistics.median(imports)
    floor_totals = [a + b for a, b in floors]
    med_floor = statistics.median(floor_totals)
    med_unpickle = statistics.median(a for a, _ in floors)
    med_pickle = statistics.median(b for _, b in floors)
    ratio = med_import / med_floor
    writer_totals = [a + b for a, b in writer_floors]
    med_writer_floor = statistics.median(writer_totals)
    med_writer = statistics.median(b for _, b in writer_floors)
    writer_ratio = med_import / med_writer_floor
    grown = {mode: (m["peak_kib"] - m["rss_before_kib"]) * 1024 for mode, m in mems.items()}
    peak_ratio = grown["import"] / grown["floor"]
    writer_peak_ratio = grown["import"] / grown["floor-writer"]

    print("playerruns import speed (TM20LIDAR, raw samples -> data.pkl)")
    print(f"  python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} cpu(s)")
    print(f"  samples            : {n_samples:,} in {len(files)} files of {args.file_samples:,} "
          f"({mib(input_bytes)} of run files, written in {gen_seconds:.1f} s)")
    print(f"  dataset            : {report.dataset_samples:,} samples, data.pkl {mib(dataset_bytes)} "
          f"(the same list with pickle.dump protocol 4: {mib(pickle_bytes)})")
    print(f"  repetitions        : {args.repeats} (import and floors interleaved; medians)")
    print(f"  import             : median {med_import:.3f} s  [{', '.join(f'{s:.3f}' for s in imports)}]")
    print(f"  import speed       : {n_samples / med_import:,.0f} samples/s")
    print(f"  floor              : median {med_floor:.3f} s  [{', '.join(f'{s:.3f}' for s in floor_totals)}]")
    print(f"    unpickle inputs  : median {med_unpickle:.3f} s (plain pickle.load of {len(files)} files)")
    print(f"    pickle dataset   : median {med_pickle:.3f} s (pickle.dump protocol 4 + fsync)")
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  ratio import/floor : {ratio:.2f} (target <= {TARGET_RATIO:g}: {verdict})")
    print(f"  floor, import's writer: median {med_writer_floor:.3f} s "
          f"[{', '.join(f'{s:.3f}' for s in writer_totals)}]; its write: median {med_writer:.3f} s "
          f"(playerruns.bridge.dataset.dump_dataset + fsync) -> ratio import/that floor {writer_ratio:.2f}")
    print("  peak memory (each in a fresh process; growth = peak (VmHWM) - RSS before the work)")
    imp = mems["import"]
    reset_note = "reset to the RSS before the work" if imp["peak_reset"] else "NOT reset: figures may be too low"
    print(f"    start-up peak    : {mib(imp['startup_peak_kib'] * 1024)} (importing tmrl/torch; peak RSS then "
          f"{reset_note})")
    print(f"    import           : RSS before {mib(imp['rss_before_kib'] * 1024)}, peak {mib(imp['peak_kib'] * 1024)}"
          f" -> growth {mib(grown['import'])} (took {imp['seconds']:.3f} s)")
    labels = {"floor": "pickle.dump protocol 4", "floor-writer": "the import's writer"}
    for mode, label in labels.items():
        m = mems[mode]
        held = (m["rss_with_dataset_kib"] - m["rss_before_kib"]) * 1024
        print(f"    floor ({label}): RSS before {mib(m['rss_before_kib'] * 1024)}, with the dataset loaded "
              f"{mib(m['rss_with_dataset_kib'] * 1024)} (+{mib(held)}; loading it peaked at "
              f"{mib(m['load_peak_kib'] * 1024)}, not counted), peak with all inputs loaded and the dataset "
              f"written {mib(m['peak_kib'] * 1024)} -> growth {mib(grown[mode])} (took {m['seconds']:.3f} s)")
    print(f"    ru_maxrss (import): {mib(imp['ru_maxrss_before_kib'] * 1024)} before, "
          f"{mib(imp['ru_maxrss_kib'] * 1024)} after (not usable: holds the parent's peak inherited at exec)")
    verdict = "met" if peak_ratio <= 1.0 else "MISSED"
    print(f"    ratio import/floor peak growth: {peak_ratio:.2f} (target <= 1: {verdict}); "
          f"to the floor with the import's writer: {writer_peak_ratio:.2f}")
    print(f"    import growth / dataset on disk  : {mib(grown['import'])} / {mib(dataset_bytes)} = "
          f"{grown['import'] / dataset_bytes:.2f} x")
    print(f"    import growth / dataset deep size: {grown['import'] / deep_bytes:.2f} x (deep size "
          f"{mib(deep_bytes)}, + {mib(header_bytes)} of ndarray headers not counted; with them: "
          f"{grown['import'] / (deep_bytes + header_bytes):.2f} x)")
    print(f"import_peak_ratio_to_floor: {peak_ratio:.2f}")
    print(f"import_ratio_to_floor: {ratio:.2f}")


if __name__ == "__main__":
    main()
