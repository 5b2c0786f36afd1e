"""Run files are loaded without ever running code from them."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from playerruns.runs.errors import RunFileError
from playerruns.runs.runfile import load_run
from playerruns.runs.safe_pickle import safe_load, safe_loads


class _CreatesFile:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _OpensFile:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_and_plain_data_round_trip(protocol):
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float32(1.5), "c": np.bool_(True),
             "d": [1, 2.5, "x", None, (True, False)], "e": {1, 2}, "f": frozenset({3}), "g": b"\x00\x01",
             "h": np.dtype("uint8"), "i": np.array(["ab", "cd"]), "j": complex(1, 2)}
    loaded = safe_loads(pickle.dumps(value, protocol=protocol))
    assert loaded.keys() == value.keys()
    np.testing.assert_array_equal(loaded["a"], value["a"])
    assert loaded["a"].dtype == np.float32 and loaded["b"] == np.float32(1.5) and loaded["b"].dtype == np.float32
    assert loaded["c"] is np.True_ and loaded["d"] == value["d"] and loaded["e"] == {1, 2}
    assert loaded["g"] == b"\x00\x01" and loaded["h"] == np.dtype("uint8") and loaded["j"] == complex(1, 2)


@pytest.mark.parametrize("payload_cls", [_CreatesFile, _OpensFile])
def test_malicious_payload_is_refused_and_never_runs(tmp_path, payload_cls):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"format": "tmrl_player_run_v1", "samples": [payload_cls(str(target))]}))
    with pytest.raises(RunFileError) as err:
        load_run(path)
    message = str(err.value)
    assert str(path) in message and "forbidden object" in message
    assert ("system" in message) or ("open" in message)
    assert "\n" not in message
    assert not target.exists()


def test_object_arrays_are_checked_inside(tmp_path):
    target = tmp_path / "pwned"
    arr = np.empty(1, dtype=object)
    arr[0] = _CreatesFile(str(target))
    with pytest.raises(RunFileError, match="refused to load"):
        safe_loads(pickle.dumps(arr))
    assert not target.exists()


def test_truncated_empty_and_non_pickle_files(tmp_path):
    good = pickle.dumps([(np.zeros(3, np.float32), np.ones(2, np.float32), 0.0, False, True, {})])
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(good[: len(good) // 2])
    text = tmp_path / "notes.pkl"
    text.write_text("this is not a pickle at all\n")
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    for path, words in ((truncated, "truncated"), (text, "not a valid pickle"), (empty, "empty")):
        with pytest.raises(RunFileError) as err:
            safe_load(path)
        assert str(path) in str(err.value) and words in str(err.value)
    with pytest.raises(RunFileError, match="no such file"):
        safe_load(tmp_path / "missing.pkl")
