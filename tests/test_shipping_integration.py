"""Runs shipped through a real tmrl server on 127.0.0.1 to a real trainer, by real sender processes
(``python -m playerruns --send-player-runs`` and ``--record-episode --send``), while a real rollout
worker trains it: ten senders at once, a wrong password, a refused run, a trainer restarted from its
checkpoint; and the faults: no trainer yet, the server restarted during a send, a sender killed
mid-send, a trainer killed between a confirmation and its next checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from playerruns.runs.runfile import load_run, new_run_id, save_run
from tests.helpers import (
    Roles,
    config_port,
    local_ports,
    make_home,
    make_runs,
    read_checkpoint,
    run_cli,
    trainer_statistics,
    trainer_updates,
    wait_for_server,
)

pytestmark = pytest.mark.slow  # starts tmrl in subprocesses


def _home(tmp_path: Path, *, rounds_per_epoch: int, **overrides) -> Path:
    return make_home(tmp_path, interface="GYM:tests.throttled_env:ThrottledPendulum-v0", MEMORY_SIZE=1_000_000,
                     BATCH_SIZE=64, MAX_EPOCHS=10_000, ROUNDS_PER_EPOCH=rounds_per_epoch, TRAINING_STEPS_PER_ROUND=50,
                     ENVIRONMENT_STEPS_BEFORE_TRAINING=200, UPDATE_BUFFER_INTERVAL=10, UPDATE_MODEL_INTERVAL=50,
                     MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=10.0, RW_MAX_SAMPLES_PER_EPISODE=200, **local_ports(),
                     PLAYER_RUNS={"ONLINE_INJECTION": True, "SOURCE_PATH": str(tmp_path / "unused"),
                                  "DEMO_INJECTION_REPEAT": 2, "RECEIVED_PATH": str(tmp_path / "received")},
                     **overrides)


def _injections(log: str, run_id: str) -> list[str]:
    return [line for line in log.splitlines() if "Player runs injected" in line and run_id in line]


def test_ten_senders_and_a_worker_train_one_trainer_each_run_once(tmp_path):
    home = _home(tmp_path, rounds_per_epoch=2)
    roles = Roles(home, tmp_path)
    made = make_runs(home, tmp_path / "made", 12)
    distinct, (shared_path, shared_id, shared_n), (bad_src, _bad_id, _) = made[:10], made[10], made[11]
    bad = load_run(bad_src)  # a NaN reward: the trainer must refuse it, as it refuses such a file from disk
    act, obs, _rew, *rest = bad.samples[5]
    bad.samples[5] = (act, obs, float("nan"), *rest)
    bad.run_id = new_run_id()
    folders = []
    for k, (path, _run_id, _n) in enumerate(distinct):
        folder = tmp_path / f"sender{k}"
        folder.mkdir()
        shutil.copy(path, folder / f"mine{k}.pkl")
        shutil.copy(shared_path, folder / "shared.pkl")  # the same run from all ten senders
        folders.append(folder)
    save_run(folders[0] / "bad.pkl", bad)
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        roles.start("worker", "--worker")
        roles.wait_for(lambda: trainer_updates(home) >= 100, 180, "training on worker samples",
                       ("server", "trainer", "worker"))

        wrong = make_home(tmp_path / "wrong", PORT=config_port(home), PASSWORD="not the server's password")
        refused = run_cli(wrong, "--send-player-runs", "--player-runs-paths", str(distinct[0][0]),
                          "--send-timeout", "5")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"the server at 127.0.0.1:{config_port(home)} did not let this sender in: PASSWORD" in refused.stdout
        assert distinct[0][0].exists()

        updates_before = trainer_updates(home)
        weights_before = roles.log("worker").count("model weights have been updated")
        senders = [roles.start(f"sender{k}", "--send-player-runs", "--player-runs-paths", str(folder),
                               "--send-timeout", "240") for k, folder in enumerate(folders)]
        codes = [p.wait(timeout=300) for p in senders]
        outputs = [roles.log(f"sender{k}") for k in range(len(folders))]
        assert codes == [1] + [0] * 9, outputs[0]
        trainer_log = roles.log("trainer")
        for k, (_path, run_id, n) in enumerate(distinct):
            (line,) = _injections(trainer_log, run_id)
            assert "injected 1 file(s) sent from " in line and f"{n} samples x2 repeat" in line
            assert f"Sent mine{k}.pkl (run {run_id}): the trainer on " in outputs[k]
            assert "took it in" in outputs[k] and (folders[k] / f"mine{k}.pkl.sent").exists()
            assert not (folders[k] / f"mine{k}.pkl").exists()
        assert len(_injections(trainer_log, shared_id)) == 1
        shared_lines = [line for o in outputs for line in o.splitlines()
                        if line.startswith(f"Sent shared.pkl (run {shared_id}): the trainer on ")]
        assert len(shared_lines) == 10
        assert sum("took it in" in line for line in shared_lines) == 1
        assert sum("already had it (not injected again)" in line for line in shared_lines) == 9
        assert all((f / "shared.pkl.sent").exists() for f in folders)
        assert f"Not sent bad.pkl (run {bad.run_id}): the trainer on " in outputs[0]
        assert "refused it: bad.pkl from " in outputs[0] and "sample 5: 'rew' is NaN" in outputs[0]
        assert (folders[0] / "bad.pkl").exists() and not _injections(trainer_log, bad.run_id)
        assert "Delivered 2 of 3 run file(s)" in outputs[0]

        # training never stalled, and the stock worker kept getting model weights (and nothing else)
        roles.wait_for(lambda: trainer_updates(home) >= updates_before + 200, 180, "training to go on",
                       ("server", "trainer", "worker"))
        roles.wait_for(lambda: roles.log("worker").count("model weights have been updated") > weights_before + 2,
                       120, "the worker to get new weights", ("worker",))
        for name in ("trainer", "worker"):
            assert "Traceback" not in roles.log(name), roles.log(name)[-3000:]
        # tlspyo's relay reads a password of another length than its own as part of the message, and logs
        # the decoding error with a traceback before it drops the connection: that one only, and it lives on
        server_log = roles.log("server")
        assert server_log.count("Traceback") == server_log.count("builtins.UnicodeDecodeError"), server_log[-3000:]

        ids = {run_id for _p, run_id, _n in distinct} | {shared_id}
        demos = 2 * (sum(n for *_x, n in distinct) + shared_n)

        def checkpoint_has_all() -> bool:
            instance = read_checkpoint(home)
            return instance is not None and ids <= instance.injection_record.run_ids

        roles.wait_for(checkpoint_has_all, 180, "a checkpoint holding every run", ("trainer",))
        instance = read_checkpoint(home)
        assert instance.memory.demo_index.n_demo_samples == demos

        # the trainer restarted from that checkpoint: a run it took is not injected twice
        roles.kill("trainer")
        roles.start("trainer2", "--trainer")
        roles.wait_for(lambda: trainer_statistics(home, "resume"), 180, "the trainer to resume", ("trainer2",))
        assert trainer_statistics(home, "resume")[0]["demo_samples"] == demos
        again = tmp_path / "again.pkl"
        shutil.copy(folders[3] / "shared.pkl.sent", again)
        resent = run_cli(home, "--send-player-runs", "--player-runs-paths", str(again), "--send-timeout", "240",
                         timeout=300)
        assert resent.returncode == 0, resent.stdout + resent.stderr
        assert "already had it (not injected again)" in resent.stdout
        delivered = folders[3] / "shared.pkl.sent"  # a delivered file sent again keeps its name
        resent = run_cli(home, "--send-player-runs", "--player-runs-paths", str(delivered), "--send-timeout", "240",
                         timeout=300)
        assert resent.returncode == 0, resent.stdout + resent.stderr
        assert "shared.pkl.sent" in resent.stdout and "already had it (not injected again)" in resent.stdout
        assert sorted(p.name for p in folders[3].iterdir()) == sorted(["mine3.pkl.sent", "shared.pkl.sent"])
        restarted = roles.log("trainer2")
        assert f"with {demos} demo samples" in restarted
        assert not _injections(restarted, shared_id) and "are not in the checkpoint" not in restarted
    finally:
        roles.stop_all()


def test_faults_lose_nothing_and_inject_nothing_twice(tmp_path):
    home = _home(tmp_path, rounds_per_epoch=100_000)  # one endless epoch: the only checkpoint is the first one
    roles = Roles(home, tmp_path)
    (path_a, id_a, _), (path_c, id_c, _), (path_d, id_d, _) = make_runs(home, tmp_path / "runs", 3)
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        alone = run_cli(home, "--send-player-runs", "--player-runs-paths", str(path_a), "--send-timeout", "5")
        assert alone.returncode == 1
        assert "no playerruns trainer answered through the server" in alone.stdout and path_a.exists()

        # the trainer is not started yet, and the server restarts while the run waits there
        roles.start("sender_a", "--send-player-runs", "--player-runs-paths", str(path_a), "--send-timeout", "300")
        roles.wait_for(lambda: "Sending 1 run file(s)" in roles.log("sender_a"), 60, "the sender to start")
        roles.kill("server")
        roles.start("server2", "--server")
        wait_for_server(roles, home, "server2")
        # a sender killed mid-send: its run waits at the new server, or never got there
        roles.start("sender_c", "--send-player-runs", "--player-runs-paths", str(path_c), "--send-timeout", "300")
        roles.wait_for(lambda: "Sending 1 run file(s)" in roles.log("sender_c"), 60, "the second sender to start")
        roles.kill("sender_c")
        assert path_c.exists()
        roles.start("trainer", "--trainer")
        assert roles.procs["sender_a"].wait(timeout=300) == 0, roles.log("sender_a")
        assert "took it in" in roles.log("sender_a") and not path_a.exists()
        again_c = run_cli(home, "--send-player-runs", "--player-runs-paths", str(path_c), "--send-timeout", "240",
                          timeout=300)
        assert again_c.returncode == 0, again_c.stdout
        assert f"Sent run1.pkl (run {id_c})" in again_c.stdout

        # killed after confirming run D, before any new checkpoint: the restarted trainer injects D again
        sent_d = run_cli(home, "--send-player-runs", "--player-runs-paths", str(path_d), "--send-timeout", "240",
                         timeout=300)
        assert sent_d.returncode == 0 and "took it in" in sent_d.stdout
        roles.kill("trainer")
        first = roles.log("trainer")
        assert [len(_injections(first, i)) for i in (id_a, id_c, id_d)] == [1, 1, 1]
        roles.start("trainer2", "--trainer")
        roles.wait_for(lambda: "kept before the restart" in roles.log("trainer2"), 180,
                       "the restarted trainer to re-inject", ("trainer2",))
        restarted = roles.log("trainer2")
        assert "3 run(s) kept in " in restarted and "are not in the checkpoint" in restarted
        (line,) = [x for x in restarted.splitlines() if "kept before the restart" in x]
        assert all(i in line for i in (id_a, id_c, id_d))
        resent = tmp_path / "d-again.pkl"
        shutil.copy(path_d.with_name("run2.pkl.sent"), resent)
        again_d = run_cli(home, "--send-player-runs", "--player-runs-paths", str(resent), "--send-timeout", "240",
                          timeout=300)
        assert again_d.returncode == 0 and "already had it" in again_d.stdout

        # record and send: each episode reaches the trainer while recording goes on
        recorded = tmp_path / "recorded"
        rec = run_cli(home, "--record-episode", "--record-input", "scripted", "--record-driver",
                      "playerruns.envs.drivers:sine_driver", "--record-auto-start", "--record-episode-count", "2",
                      "--record-episode-max-samples", "50", "--record-episode-output-dir", str(recorded), "--send",
                      "--send-timeout", "240", timeout=300)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert rec.stdout.count("took it in") == 2 and "Delivered 2 of 2 run file(s)" in rec.stdout
        assert sorted(p.suffix for p in recorded.iterdir()) == [".sent", ".sent"]
        roles.wait_for(lambda: roles.log("trainer2").count("sent from") >= 2, 30, "the trainer's log")
        assert "Traceback" not in roles.log("trainer2")
    finally:
        roles.stop_all()


def _self_signed_credentials(folder: Path, hostname: str = "default") -> None:
    """key.pem and certificate.pem as tlspyo expects them (its own generator fails with pyOpenSSL >= 24)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                                       serialization.NoEncryption()))
    (folder / "certificate.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_sending_over_tls_as_tmrl_workers_do(tmp_path):
    keys = tmp_path / "keys"
    _self_signed_credentials(keys)  # a self-signed certificate for tmrl's default TLS_HOSTNAME, "default"
    home = _home(tmp_path, rounds_per_epoch=100_000, TLS=True, TLS_HOSTNAME="default",
                 TLS_CREDENTIALS_DIRECTORY=str(keys))
    roles = Roles(home, tmp_path)
    ((path, run_id, n),) = make_runs(home, tmp_path / "runs", 1)
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        plain = make_home(tmp_path / "plain", PORT=config_port(home), TLS=False)  # the right password, but no TLS
        refused = run_cli(plain, "--send-player-runs", "--player-runs-paths", str(path), "--send-timeout", "5")
        assert refused.returncode == 1 and "did not let this sender in" in refused.stdout and path.exists()
        sent = run_cli(home, "--send-player-runs", "--player-runs-paths", str(path), "--send-timeout", "240",
                       timeout=300)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert f"Sent run0.pkl (run {run_id}): the trainer on " in sent.stdout and "took it in" in sent.stdout
        (line,) = _injections(roles.log("trainer"), run_id)
        assert f"{n} samples x2 repeat" in line
    finally:
        roles.stop_all()
