"""The SOURCE_PATH poller: order, limits, consume or not, restarts, bad files, a missing folder."""

from __future__ import annotations

import logging
import os
import pickle
import time
from pathlib import Path

import pytest

from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.injection import FULL_SCAN_SECONDS, InjectionRecord, SourcePoller


@pytest.fixture
def make_run(lidar_setup, rng):
    def make(folder, name, mtime=None, steps=5):
        run = synthetic_run(lidar_setup, steps=steps, rng=rng)
        path = save_run(folder / name, run)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return run
    return make


def _poller(folder, lidar_setup, record=None, **kwargs):
    return SourcePoller(folder, record if record is not None else InjectionRecord(), lidar_setup.compat, **kwargs)


def _inject_all(poller, runs):
    for run in runs:
        poller.mark_injected(run, len(run.samples))
    return [r.source.name for r in runs]


def test_oldest_first_one_per_poll_and_seen_files_never_block(tmp_path, lidar_setup, make_run):
    for name, mtime in (("c.pkl", 3000), ("a.pkl", 1000), ("b.pkl", 2000)):
        make_run(tmp_path, name, mtime)
    poller = _poller(tmp_path, lidar_setup, consume=False, max_files=1)
    order = [_inject_all(poller, poller.poll()) for _ in range(4)]
    assert order == [["a.pkl"], ["b.pkl"], ["c.pkl"], []]
    assert sorted(os.listdir(tmp_path)) == ["a.pkl", "b.pkl", "c.pkl"]  # left in place


def test_max_files_per_update(tmp_path, lidar_setup, make_run):
    for k in range(5):
        make_run(tmp_path, f"r{k}.pkl", 1000 + k)
    poller = _poller(tmp_path, lidar_setup, consume=True, max_files=3)
    assert _inject_all(poller, poller.poll()) == ["r0.pkl", "r1.pkl", "r2.pkl"]
    assert _inject_all(poller, poller.poll()) == ["r3.pkl", "r4.pkl"]
    assert sorted(os.listdir(tmp_path)) == [f"r{k}.pkl.imported" for k in range(5)]


def test_ignores_temporary_consumed_rejected_and_hidden_files(tmp_path, lidar_setup, make_run):
    make_run(tmp_path, "real.pkl")
    payload = (tmp_path / "real.pkl").read_bytes()
    for name in (".real.pkl.x1.partial", "x.pkl.imported", "y.pkl.rejected", ".hidden.pkl", "notes.txt"):
        (tmp_path / name).write_bytes(payload)
    (tmp_path / "folder.pkl").mkdir()
    poller = _poller(tmp_path, lidar_setup, max_files=10)
    assert [r.source.name for r in poller.poll()] == ["real.pkl"]


def test_consumed_or_seen_files_are_not_reread(tmp_path, lidar_setup, make_run, caplog):
    make_run(tmp_path, "a.pkl")
    poller = _poller(tmp_path, lidar_setup, consume=False)
    _inject_all(poller, poller.poll())
    (tmp_path / "a.pkl").write_bytes(b"garbage now")  # a re-read would warn about it
    with caplog.at_level(logging.WARNING):
        assert poller.poll() == [] and poller.poll() == []
    assert "a.pkl" not in caplog.text


def test_restart_resumed_vs_fresh(tmp_path, lidar_setup, make_run):
    make_run(tmp_path, "a.pkl", 1000)
    make_run(tmp_path, "b.pkl", 2000)
    record = InjectionRecord()
    first = _poller(tmp_path, lidar_setup, record, consume=False, max_files=5)
    _inject_all(first, first.poll())
    # a trainer resumed from its checkpoint has the record back (pickled with the training instance)
    resumed = _poller(tmp_path, lidar_setup, pickle.loads(pickle.dumps(record)), consume=False, max_files=5)
    assert resumed.poll() == []
    # a fresh trainer (no checkpoint) injects the files again
    fresh = _poller(tmp_path, lidar_setup, InjectionRecord(), consume=False, max_files=5)
    assert [r.source.name for r in fresh.poll()] == ["a.pkl", "b.pkl"]
    # with CONSUME_ON_READ a restarted trainer finds nothing left
    consumer = _poller(tmp_path, lidar_setup, InjectionRecord(), consume=True, max_files=5)
    _inject_all(consumer, consumer.poll())
    assert _poller(tmp_path, lidar_setup, InjectionRecord(), consume=True, max_files=5).poll() == []


def test_same_run_under_another_name_is_skipped(tmp_path, lidar_setup, make_run):
    make_run(tmp_path, "a.pkl", 1000)
    poller = _poller(tmp_path, lidar_setup, consume=True, max_files=5)
    _inject_all(poller, poller.poll())
    (tmp_path / "copy.pkl").write_bytes((tmp_path / "a.pkl.imported").read_bytes())
    assert poller.poll() == []
    assert (tmp_path / "copy.pkl.imported").exists()


def test_growing_file_is_retried_then_injected(tmp_path, lidar_setup, make_run, caplog):
    (tmp_path / "src").mkdir()
    run = make_run(tmp_path / "src", "full.pkl")
    full = (tmp_path / "src" / "full.pkl").read_bytes()
    target = tmp_path / "copying.pkl"
    target.write_bytes(full[: len(full) // 2])
    poller = _poller(tmp_path, lidar_setup, reject_after=30.0)
    with caplog.at_level(logging.WARNING):
        assert poller.poll(now=0.0) == []
        assert poller.poll(now=10.0) == []
    assert caplog.text.count("cannot inject copying.pkl yet") == 1  # warned once, not every poll
    target.write_bytes(full)  # the copy completes
    os.utime(target, (5000, 5000))
    runs = poller.poll(now=40.0)
    assert [r.run_id for r in runs] == [run.run_id]


@pytest.mark.parametrize("content, reason", [
    (b"\x80\x04\x95 truncated", "truncated"),
    (pickle.dumps({"format": "tmrl_player_run_v1", "run_id": "x", "recorded_at": "", "metadata": {},
                   "samples": [(None, 1, 0.0, False, True, {})]}), "observation does not fit"),
])
def test_bad_file_unchanged_past_grace_is_rejected_not_deleted(tmp_path, lidar_setup, make_run, content, reason):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(content)
    make_run(tmp_path, "good.pkl")
    poller = _poller(tmp_path, lidar_setup, max_files=1, reject_after=5.0)
    injected = []
    for now in (0.0, 1.0, 2.0, 6.0, 7.0):
        injected += _inject_all(poller, poller.poll(now=now))
    assert injected == ["good.pkl"]  # the bad file never blocked the good one
    assert not bad.exists()
    assert (tmp_path / "bad.pkl.rejected").read_bytes() == content
    assert reason in (tmp_path / "bad.pkl.rejected.reason").read_text()
    assert sorted(os.listdir(tmp_path)) == ["bad.pkl.rejected", "bad.pkl.rejected.reason", "good.pkl.imported"]


def test_missing_folder_is_logged_once_then_picked_up(tmp_path, lidar_setup, make_run, caplog):
    folder = tmp_path / "later"
    poller = _poller(folder, lidar_setup)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert poller.poll() == []
        assert caplog.text.count("Player runs SOURCE_PATH does not exist") == 1
        folder.mkdir()
        make_run(folder, "a.pkl")
        assert len(poller.poll()) == 1
    assert "now exists" in caplog.text


# -- the idle poll: no listing while nothing can have changed ----------------------------------------


@pytest.fixture
def listings(monkeypatch):
    """The folders os.scandir was asked to list, in order: a counting wrapper around the real one."""
    calls: list[Path] = []
    real_scandir = os.scandir

    def counting_scandir(path="."):
        if not isinstance(path, int):  # (a file descriptor names no folder)
            calls.append(Path(os.fsdecode(path)))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    return calls


def _quiet(folder):
    """Dates the folder's last change a minute back, as in a training run where no file arrived lately
    (a folder time more recent than MTIME_GRANULARITY_SECONDS is not trusted: every poll lists it)."""
    past = time.time() - 60
    os.utime(folder, (past, past))


def _folder_stamp(folder):
    st = os.stat(folder)
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev


@pytest.mark.parametrize("consume", [True, False])
def test_idle_poll_does_not_list_and_a_new_file_is_found_at_the_next_poll(tmp_path, lidar_setup, make_run,
                                                                          listings, consume):
    make_run(tmp_path, "a.pkl")
    poller = _poller(tmp_path, lidar_setup, consume=consume, max_files=5)
    assert _inject_all(poller, poller.poll(now=0.0)) == ["a.pkl"]
    _quiet(tmp_path)
    assert poller.poll(now=0.1) == []  # lists: the last poll returned runs, and learns the folder's time
    listed = listings.count(tmp_path)
    for now in (0.2, 0.3, 0.4):
        assert poller.poll(now=now) == []
    assert listings.count(tmp_path) == listed  # idle: not listed
    run = make_run(tmp_path, "b.pkl")
    assert [r.run_id for r in poller.poll(now=0.5)] == [run.run_id]  # the very next poll
    assert listings.count(tmp_path) == listed + 1
    # a run returned but never marked injected (the trainer failed to append it) is returned again,
    # at every poll, quiet folder or not
    _quiet(tmp_path)
    for now in (0.6, 0.7):
        assert [r.run_id for r in poller.poll(now=now)] == [run.run_id]


def test_recently_changed_folder_is_listed_until_quiet(tmp_path, lidar_setup, make_run, listings):
    """A folder time as recent as the scan may hide a file created in the same clock tick."""
    make_run(tmp_path, "a.pkl")
    poller = _poller(tmp_path, lidar_setup, consume=False)
    _inject_all(poller, poller.poll(now=0.0))
    assert poller.poll(now=0.1) == []
    before = os.stat(tmp_path)  # changed a moment ago (a.pkl written)
    run = make_run(tmp_path, "same_tick.pkl")
    os.utime(tmp_path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as if stamped in the same tick
    listed = listings.count(tmp_path)
    assert [r.run_id for r in poller.poll(now=0.2)] == [run.run_id]
    assert listings.count(tmp_path) == listed + 1
    poller.mark_injected(run, len(run.samples))
    _quiet(tmp_path)
    assert poller.poll(now=0.3) == []
    listed = listings.count(tmp_path)
    assert poller.poll(now=0.4) == [] and listings.count(tmp_path) == listed  # quiet now: idle


def test_full_scan_every_full_scan_seconds(tmp_path, lidar_setup, make_run, listings):
    make_run(tmp_path, "a.pkl")
    poller = _poller(tmp_path, lidar_setup, consume=False)
    _inject_all(poller, poller.poll(now=0.0))
    _quiet(tmp_path)
    assert poller.poll(now=0.5) == []
    listed = listings.count(tmp_path)
    assert poller.poll(now=0.5 + FULL_SCAN_SECONDS - 0.1) == []
    assert listings.count(tmp_path) == listed
    assert poller.poll(now=0.5 + FULL_SCAN_SECONDS) == []
    assert listings.count(tmp_path) == listed + 1  # listed though nothing changed
    scanned_at = 0.5 + FULL_SCAN_SECONDS

    # a file system that does not report a change (the folder's time restored after the file came)
    before = os.stat(tmp_path)
    stamp = _folder_stamp(tmp_path)
    run = make_run(tmp_path, "hidden.pkl")
    os.utime(tmp_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    found = poller.poll(now=scanned_at + FULL_SCAN_SECONDS - 0.1)
    if _folder_stamp(tmp_path) == stamp:  # true on ext4 (a folder's size stays 4096), not on tmpfs
        assert found == [] and listings.count(tmp_path) == listed + 1  # invisible until the full scan
    found += poller.poll(now=scanned_at + FULL_SCAN_SECONDS)
    assert [r.run_id for r in found] == [run.run_id]


def test_changed_bad_file_is_retried_while_idle_polls_skip_the_listing(tmp_path, lidar_setup, make_run,
                                                                             listings):
    (tmp_path / "src").mkdir()
    run = make_run(tmp_path / "src", "full.pkl")
    full = (tmp_path / "src" / "full.pkl").read_bytes()
    copying = tmp_path / "copying.pkl"
    copying.write_bytes(full[: len(full) // 2])
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a pickle")
    _quiet(tmp_path)
    poller = _poller(tmp_path, lidar_setup, consume=True, max_files=5, reject_after=3.0)
    assert poller.poll(now=0.0) == []  # both bad
    listed = listings.count(tmp_path)
    assert poller.poll(now=1.0) == []
    assert listings.count(tmp_path) == listed  # bad files unchanged and in their grace: not listed
    copying.write_bytes(full)  # the copy completes in place: the folder's time does not change
    found = poller.poll(now=2.0)
    assert [r.run_id for r in found] == [run.run_id]
    assert listings.count(tmp_path) == listed + 1
    assert _inject_all(poller, found) == ["copying.pkl"]
    assert poller.poll(now=2.5) == [] and broken.exists()  # still in its grace


def test_bad_file_is_rejected_after_its_grace_while_idle_polls_skip_the_listing(tmp_path, lidar_setup, listings):
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a pickle")
    _quiet(tmp_path)
    poller = _poller(tmp_path, lidar_setup, reject_after=3.0)
    assert poller.poll(now=0.0) == []
    listed = listings.count(tmp_path)
    for now in (1.0, 2.0, 2.9):
        assert poller.poll(now=now) == []
    assert listings.count(tmp_path) == listed and broken.exists()
    assert poller.poll(now=3.0) == []  # its grace ran out (before FULL_SCAN_SECONDS): listed, rejected
    assert listings.count(tmp_path) == listed + 1
    assert sorted(os.listdir(tmp_path)) == ["broken.pkl.rejected", "broken.pkl.rejected.reason"]


def test_max_files_leftovers_are_injected_at_the_following_polls(tmp_path, lidar_setup, make_run, listings):
    (tmp_path / "a_bad.pkl").write_bytes(b"not a pickle")
    os.utime(tmp_path / "a_bad.pkl", (500, 500))  # the oldest: read first, and uses up the poll's one read
    for k in range(3):
        make_run(tmp_path, f"r{k}.pkl", 1000 + k)
    _quiet(tmp_path)  # the folder does not change any more (CONSUME_ON_READ false: files stay)
    poller = _poller(tmp_path, lidar_setup, consume=False, max_files=1)
    order = [_inject_all(poller, poller.poll(now=0.1 * k)) for k in range(5)]
    assert order == [[], ["r0.pkl"], ["r1.pkl"], ["r2.pkl"], []]
    listed = listings.count(tmp_path)
    assert poller.poll(now=0.6) == []
    assert listings.count(tmp_path) == listed  # all done: idle again
