"""A full disk is one line, and loses nothing: the import onto a full dataset folder keeps data.pkl as it was.
(The recorder on a full disk: tests/test_recorder_keeps_episodes.py.) The disk is a real tmpfs filled up."""

from __future__ import annotations

from tests.helpers import file_digests, fill_up, make_home, make_runs, one_line_error, run_cli, small_disk


def test_an_import_onto_a_full_disk_is_one_line_and_keeps_the_dataset(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    (first, _id, _n), (second, _id2, _m) = make_runs(home, tmp_path / "runs", 2)
    dataset = home / "TmrlData" / "dataset"
    with small_disk(dataset, "256k"):
        done = run_cli(home, "--import-player-runs", "--player-runs-paths", str(first))
        assert done.returncode == 0, done.stderr
        fill_up(dataset)
        before = file_digests(dataset)
        full = run_cli(home, "--import-player-runs", "--player-runs-paths", str(second))
        line = one_line_error(full, str(dataset / "data.pkl"), "cannot write the dataset", "No space left on device",
                              "left as it was")
        assert "Traceback" not in full.stdout + full.stderr, line
        assert file_digests(dataset) == before  # data.pkl byte for byte, and no temporary file left
