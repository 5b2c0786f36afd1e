"""Shipping runs through tmrl's server, in process: the messages as tmrl's own code reads them, the
trainer's desk (validation, storage, deduplication, recovery, receipts) on the real TM20LIDAR
configuration, the sender's view of receipts, and the command line without a server."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from playerruns.runs.errors import ConfigError
from playerruns.runs.runfile import save_run
from playerruns.shipping import wire
from playerruns.shipping.link import ServerLink, Unreadable, deserialize, free_local_ports, serialize
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.injection import InjectionRecord
from playerruns.trainer.receiving import RunDesk
from tests.helpers import make_home, run_cli, subprocess_env


def _shipment(run, data, *, sender_id="s1", name="r.pkl"):
    return wire.Shipment(sender="pc-1", sender_id=sender_id, runs=[wire.ShippedRun(run.run_id, name, data)],
                         ask=[run.run_id])


@pytest.fixture
def lidar_run(tmp_path, lidar_setup, rng):
    run = synthetic_run(lidar_setup, episodes=2, steps=30, rng=rng)
    path = save_run(tmp_path / "run.pkl", run)
    return run, path.read_bytes()


def test_a_shipment_is_an_empty_tmrl_buffer_that_stock_tmrl_merges_as_nothing(lidar_run):
    from tmrl.networking import Buffer

    run, data = lidar_run
    shipment = wire.Shipment(sender="pc-1", runs=[wire.ShippedRun(run.run_id, "run.pkl", data)], ask=[run.run_id])
    received = pickle.loads(serialize(shipment))  # what the trainer's tlspyo endpoint does with it
    assert type(received) is Buffer and len(received) == 0
    merged = Buffer()
    merged.append_sample(("a", "o", 1.0, False, False, {}))
    merged += received  # tmrl's TrainerInterface.retrieve_buffer on a stock trainer
    assert len(merged) == 1
    back = wire.read_shipment(received)
    assert back is not None and back.sender == "pc-1" and back.ask == [run.run_id]
    assert back.runs[0].data == data and back.runs[0].run_id == run.run_id


def test_worker_samples_are_not_shipments_and_a_malformed_one_is_named():
    from tmrl.networking import Buffer

    assert wire.read_shipment(Buffer()) is None
    odd = Buffer()
    setattr(odd, wire.SHIPMENT_ATTR, {"version": 99})
    with pytest.raises(wire.WireError, match="unknown version: 99"):
        wire.read_shipment(odd)
    setattr(odd, wire.SHIPMENT_ATTR, {"version": wire.WIRE_VERSION, "sender": "x"})
    with pytest.raises(wire.WireError, match="malformed"):
        wire.read_shipment(odd)


def test_the_sender_never_runs_code_it_receives(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    assert isinstance(deserialize(pickle.dumps(Evil())), Unreadable)
    assert not marker.exists()
    receipts = wire.receipts_message("gpu-box", {"r1": wire.Status(wire.TAKEN, "took it in", "s1")})
    assert wire.read_receipts(deserialize(pickle.dumps(receipts))).statuses["r1"].status == wire.TAKEN
    assert deserialize(pickle.dumps(b"weights")) == b"weights"


def test_a_run_taken_from_another_senders_shipment_reads_as_already_there():
    taken = wire.Status(wire.TAKEN, "took it in: 5 samples", "sender-a")
    assert taken.for_sender("sender-a") is taken
    assert taken.for_sender("sender-b").status == wire.ALREADY
    assert wire.Status(wire.REFUSED, "bad").for_sender("sender-b").status == wire.REFUSED


def _desk(tmp_path, lidar_setup, record=None, enabled=True, name="test_run"):
    return RunDesk(record or InjectionRecord(), lidar_setup.compat, tmp_path / "received", enabled=enabled, name=name,
                   host="gpu")


def test_the_desk_stores_a_valid_run_before_it_is_injected_and_takes_it_once(tmp_path, lidar_setup, lidar_run):
    run, data = lidar_run
    desk = _desk(tmp_path, lidar_setup)
    accepted = desk.receive(_shipment(run, data))
    assert [r.run_id for r in accepted] == [run.run_id]
    stored = desk.inbox / f"{run.run_id}.pkl"
    assert stored.read_bytes() == data and accepted[0].source == stored
    assert len(accepted[0].samples) == len(run.samples)
    assert desk.status(run.run_id).status == wire.UNKNOWN  # not injected yet: the sender must not hear "taken"
    desk.taken(accepted[0], 2 * len(run.samples), 2, "s1")
    status = desk.status(run.run_id)
    assert (status.status, status.taken_from) == (wire.TAKEN, "s1")
    assert f"{len(run.samples)} samples x2" in status.detail
    assert desk.receive(_shipment(run, data, sender_id="s2")) == []  # the same run again, from another sender
    receipts = wire.read_receipts(desk.receipts())
    assert receipts.trainer == "gpu"
    assert receipts.statuses[run.run_id].for_sender("s2").status == wire.ALREADY
    assert desk.record.run_ids == {run.run_id} and desk.record.files == 1


def test_the_desk_refuses_what_a_file_from_disk_would_fail_and_says_why(tmp_path, lidar_setup, lidar_run, rng):
    run, _data = lidar_run
    bad = synthetic_run(lidar_setup, steps=10, rng=rng)
    bad.samples[3] = (bad.samples[3][0], bad.samples[3][1], float("nan"), *bad.samples[3][3:])
    bad_data = save_run(tmp_path / "bad.pkl", bad).read_bytes()
    desk = _desk(tmp_path, lidar_setup)
    assert desk.receive(_shipment(bad, bad_data, name="bad.pkl")) == []
    status = desk.status(bad.run_id)
    assert status.status == wire.REFUSED and "bad.pkl from pc-1: sample 3" in status.detail
    assert "'rew' is NaN" in status.detail
    evil = pickle.dumps({"format": "tmrl_player_run_v1", "run_id": "x", "recorded_at": "now",
                         "metadata": {}, "samples": [os.system]})
    assert desk.receive(wire.Shipment("pc-1", runs=[wire.ShippedRun("x", "evil.pkl", evil)])) == []
    assert "forbidden object 'posix.system'" in desk.status("x").detail
    wrong_id = wire.Shipment("pc-1", runs=[wire.ShippedRun("other-id", "run.pkl", _data)])
    assert desk.receive(wrong_id) == []
    assert "holds run" in desk.status("other-id").detail
    assert not desk.inbox.exists() or list(desk.inbox.iterdir()) == []  # nothing refused is stored
    off = _desk(tmp_path / "off", lidar_setup, enabled=False)
    assert off.receive(_shipment(run, _data)) == []
    assert "PLAYER_RUNS.ONLINE_INJECTION is false" in off.status(run.run_id).detail


def test_after_a_restart_the_desk_finds_runs_received_since_the_last_checkpoint(tmp_path, lidar_setup, lidar_run,
                                                                                 rng):
    run, data = lidar_run
    other = synthetic_run(lidar_setup, steps=10, rng=rng)
    other_data = save_run(tmp_path / "other.pkl", other).read_bytes()
    record = InjectionRecord()
    checkpointed = pickle.loads(pickle.dumps(record))  # the trainer's checkpoint, before either run arrived
    desk = _desk(tmp_path, lidar_setup, record)
    for r, d in ((run, data), (other, other_data)):
        (accepted,) = desk.receive(_shipment(r, d))
        desk.taken(accepted, len(r.samples), 1, "s1")
    checkpointed.run_ids.add(run.run_id)  # say the checkpoint came between the two
    restarted = _desk(tmp_path, lidar_setup, checkpointed)
    assert [r.run_id for r in restarted.recover()] == [other.run_id]
    # a training started over under the same RUN_NAME takes in what no checkpoint holds; another has its own folder
    fresh = _desk(tmp_path, lidar_setup, InjectionRecord())
    assert sorted(r.run_id for r in fresh.recover()) == sorted([run.run_id, other.run_id])
    assert _desk(tmp_path, lidar_setup, InjectionRecord(), name="another_run").recover() == []
    assert restarted.forget_checkpointed() == 1  # the run the checkpoint holds: its copy goes, the other stays
    assert [r.run_id for r in _desk(tmp_path, lidar_setup, InjectionRecord()).recover()] == [other.run_id]


def test_server_settings_come_from_config_json_as_a_worker_reads_them(tmp_path, monkeypatch):
    home = make_home(tmp_path, PUBLIC_IP_SERVER="10.1.2.3", LOCALHOST_WORKER=False, PORT=50123, PASSWORD="pw",
                     TLS=True, TLS_HOSTNAME="tmrl-host")
    monkeypatch.setenv("HOME", str(home))
    link = ServerLink.from_config()
    assert (link.where, link.password, link.tls, link.tls_hostname) == ("10.1.2.3:50123", "pw", True, "tmrl-host")
    config = home / "TmrlData" / "config" / "config.json"
    config.write_text(config.read_text().replace('"PASSWORD"', '"PASSWORD_"'))
    with pytest.raises(ConfigError, match="missing key 'PASSWORD'"):
        ServerLink.from_config()


def test_sending_without_a_server_says_so_and_keeps_the_file(tmp_path, lidar_run):
    (port,) = free_local_ports(1)  # nothing listens there
    home = make_home(tmp_path, PORT=port)
    folder = tmp_path / "runs"
    folder.mkdir()
    run, data = lidar_run
    (folder / "mine.pkl").write_bytes(data)
    done = run_cli(home, "--send-player-runs", "--player-runs-paths", str(folder), "--send-timeout", "2")
    assert done.returncode == 1
    assert f"Not sent mine.pkl (run {run.run_id}): no tmrl server at 127.0.0.1:{port}" in done.stdout
    assert "Delivered 0 of 1 run file(s)" in done.stdout
    assert (folder / "mine.pkl").read_bytes() == data


def test_an_unreadable_file_stops_the_send_before_anything_leaves(tmp_path, lidar_run):
    home = make_home(tmp_path)
    folder = tmp_path / "runs"
    folder.mkdir()
    _run, data = lidar_run
    (folder / "a.pkl").write_bytes(data)
    (folder / "b.pkl").write_bytes(data[: len(data) // 2])
    done = run_cli(home, "--send-player-runs", "--player-runs-paths", f"{folder}/*.pkl")
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"playerruns: error: {folder / 'b.pkl'}:")
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(folder)) == ["a.pkl", "b.pkl"]
    missing = run_cli(home, "--send-player-runs")
    assert missing.returncode == 2 and "--send-player-runs needs --player-runs-paths" in missing.stderr


def test_a_sender_imports_neither_tmrl_nor_torch(tmp_path, lidar_run):
    (port,) = free_local_ports(1)  # nothing listens there: the send goes as far as reaching for the server
    home = make_home(tmp_path, PORT=port)
    _run, data = lidar_run
    (tmp_path / "mine.pkl").write_bytes(data)
    argv = ["--send-player-runs", "--player-runs-paths", str(tmp_path / "mine.pkl"), "--send-timeout", "2"]
    code = ("import sys; from playerruns.cli import main; "
            f"code = main({argv!r}); print(code, sorted(m for m in ('tmrl', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(home), capture_output=True, text=True,
                         timeout=120)
    assert f"no tmrl server at 127.0.0.1:{port}" in out.stdout, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1 []"  # the whole send: refused, without tmrl or torch


@pytest.mark.parametrize("kind", ["deep_lists", "cycle_list", "exponential_dag", "ndarray_reduce_huge", "huge_int"])
def test_a_crafted_run_sent_past_the_senders_check_is_refused_and_never_stored(tmp_path, lidar_setup, kind):
    from tests.crafted import CORPUS

    data = CORPUS[kind]("info")
    desk = _desk(tmp_path, lidar_setup)
    assert desk.receive(wire.Shipment("pc-1", runs=[wire.ShippedRun("crafted-0", "crafted.pkl", data)])) == []
    status = desk.status("crafted-0")
    assert status.status == wire.REFUSED and "crafted.pkl from pc-1" in status.detail
    assert "refused to load" in status.detail or "cannot read" in status.detail
    assert "\n" not in status.detail
    assert not desk.inbox.exists() or list(desk.inbox.iterdir()) == []
