"""The trainer's statistics channel as a reader meets it: whole records in order, an unfinished or
hostile line skipped, and a writer that cannot write never stops training."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from playerruns import read_statistics, statistics_file
from playerruns.trainer.statistics import StatisticsLog, last_record


def test_records_are_read_back_in_order_and_by_event(tmp_path):
    log = StatisticsLog(statistics_file(tmp_path / "stats", "run"))
    log.write("start", epoch=0, updates=0, env_steps=0, demo_samples=62)
    log.write("epoch", epoch=1, updates=1000, env_steps=1200, q_demo=float("nan"), tmrl={"loss": float("inf")})
    path = tmp_path / "stats" / "run.jsonl"
    assert [r["event"] for r in read_statistics(path)] == ["start", "epoch"]
    [epoch] = read_statistics(path, "epoch")
    assert epoch["updates"] == 1000 and epoch["q_demo"] is None and epoch["tmrl"] == {"loss": None}
    assert all(json.loads(line) for line in path.read_text().splitlines())  # strict JSON: no NaN
    assert last_record(path)["event"] == "epoch"
    with pytest.raises(ValueError):
        log.write("not-an-event")


def test_an_unfinished_last_line_and_hostile_lines_are_skipped(tmp_path):
    path = tmp_path / "run.jsonl"
    good = json.dumps({"event": "progress", "updates": 7})
    path.write_text("\n".join(["not json", "[1, 2]", "[" * 100_000, good, '{"event": "progress", "upd']),
                    encoding="utf-8")
    assert read_statistics(path) == [{"event": "progress", "updates": 7}]
    assert last_record(path) == {"event": "progress", "updates": 7}
    assert read_statistics(tmp_path / "missing.jsonl") == [] and last_record(tmp_path / "missing.jsonl") is None


def _bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux: /proc/self/io)."""
    with open("/proc/self/io", encoding="ascii") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def test_last_record_reads_only_the_end_of_a_long_file(tmp_path):
    if not Path("/proc/self/io").exists():
        pytest.skip("needs /proc/self/io to count the bytes read")
    path = tmp_path / "run.jsonl"
    log = StatisticsLog(path)
    for k in range(20_000):
        log.write("progress", updates=k, note="x" * 40)
    size = path.stat().st_size
    assert size > 1_000_000
    before = _bytes_read()
    assert last_record(path, tail_bytes=256)["updates"] == 19_999
    read = _bytes_read() - before
    assert read < 64 * 1024, (read, size)  # the tail (and /proc/self/io itself), not the megabytes before it


def test_a_file_that_cannot_be_written_is_warned_about_once(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    log = StatisticsLog(blocker / "run.jsonl")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            log.write("progress", updates=1)
    assert caplog.text.count("cannot write the statistics file") == 1
