"""The trainer's side of shipped player runs (``playerruns.shipping``): set apart from worker samples
as they arrive, validated exactly as files from disk, stored, injected, and answered with receipts.

- ``PlayerRunsTrainerInterface`` is tmrl's ``TrainerInterface`` whose buffer retrieval sets shipments
  apart from worker samples (a stock interface would merge them as empty buffers), and which sends
  receipts to the ``workers`` group as consumables, which stock workers never read (see ``wire``).
- ``RunDesk`` decides on each shipped run: refused (not valid here, or online injection is off),
  already taken (its run id is in the training's ``InjectionRecord``: sending a run twice injects it
  once), or taken. A run is stored in ``RECEIVED_PATH/<RUN_NAME>/`` (atomically, fsync'ed) before it
  is injected and before the sender hears of it: if the trainer dies before its next checkpoint, the
  restarted trainer finds it there, not in the checkpoint's record, and injects it again; a run the
  checkpoint has is never injected twice.
- The desk keeps runs injected from SOURCE_PATH the same way (``keep``, before their file is renamed
  ``.pkl.imported``), so a killed trainer gets those back too; and once a checkpoint holds a run,
  its copy is removed (``forget_checkpointed``): the folder holds only what the checkpoint lacks.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import time
from pathlib import Path
from typing import Any

from tmrl.networking import Buffer, Trainer, TrainerInterface

from playerruns.runs.atomic_io import atomic_write_bytes
from playerruns.runs.demos import load_demo_run, read_demo_run
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.runfile import RunFile
from playerruns.runs.validation import Compatibility
from playerruns.shipping import wire
from playerruns.shipping.link import TRAINERS, WORKERS
from playerruns.trainer.handling import HandlingNote, handling
from playerruns.trainer.injection import InjectionRecord

log = logging.getLogger(__name__)

ASKED_RECENTLY_SECONDS = 120.0  # receipts list every run id asked about within this time
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class RunDesk:
    """Validates, stores and records shipped runs; writes the receipts. Rebuilt after a restart: what
    it must remember lives in the checkpointed ``InjectionRecord`` and in the folder of received runs."""

    def __init__(self, record: InjectionRecord, compat: Compatibility | None, received_root: Path, *,
                 enabled: bool, name: str, host: str | None = None, note: HandlingNote | None = None) -> None:
        """``name`` (the RUN_NAME) names the folder: a trainer that starts over, without a checkpoint, still
        finds what an earlier one kept and no checkpoint holds."""
        self.record = record
        self.note = note
        self.compat = compat
        self.inbox = Path(received_root) / _SAFE.sub("_", name)
        self._earlier = Path(received_root) / record.training_id  # where earlier versions kept them (by training)
        self.enabled = enabled
        self.host = host or socket.gethostname()
        self._said: dict[str, wire.Status] = {}  # this session's TAKEN and REFUSED answers
        self._asked: dict[str, float] = {}

    def recover(self) -> list[RunFile]:
        """Runs stored in this training's folder that its record lacks (kept after the last checkpoint)."""
        runs = []
        seen: set[str] = set()
        for path in sorted(self.inbox.glob("*.pkl")) + sorted(self._earlier.glob("*.pkl")):
            try:
                with handling(self.note, path, "reading"):
                    run = load_demo_run(path, self.compat)
            except PlayerRunsError as err:
                log.warning(f"Player runs: cannot re-inject {path}: {err}")
                continue
            if run.run_id not in self.record.run_ids and run.run_id not in seen:
                seen.add(run.run_id)
                runs.append(run)
        return runs

    def keep(self, run: RunFile) -> bool:
        """Stores a copy of a run about to be injected from elsewhere (SOURCE_PATH), as received runs are;
        False (with a warning) when it cannot: the caller then leaves the original where it is."""
        if run.source is None or run.source.parent == self.inbox:
            return True
        try:
            self.inbox.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.inbox / _file_name(run.run_id), run.source.read_bytes())
        except OSError as err:
            log.warning(f"Player runs: could not keep a copy of {run.source.name} in {self.inbox}: "
                        f"{err.strerror or err} (the file is left as it is, not renamed)")
            return False
        return True

    def forget_checkpointed(self) -> int:
        """Removes the stored runs that a checkpoint just saved holds (the record as it is now); returns how many."""
        held = {_file_name(run_id) for run_id in self.record.run_ids}
        removed = 0
        for path in [*self.inbox.glob("*.pkl"), *self._earlier.glob("*.pkl")]:
            if path.name in held:
                try:
                    path.unlink()
                    removed += 1
                except OSError as err:
                    log.warning(f"Player runs: could not remove {path}: {err.strerror or err}")
        for folder in (self.inbox, self._earlier):
            try:
                folder.rmdir()  # only when empty: the folder holds what the checkpoint lacks, or is not there
            except OSError:
                pass
        return removed

    def receive(self, shipment: wire.Shipment, now: float | None = None) -> list[RunFile]:
        """The shipment's runs to inject now (each already stored); the others get their answer here."""
        now = time.monotonic() if now is None else now
        for run_id in shipment.ask:
            self._asked[run_id] = now
        accepted: list[RunFile] = []
        for shipped in shipment.runs:
            self._asked[shipped.run_id] = now
            source = f"{shipped.name} from {shipment.sender}"
            if shipped.run_id in self.record.run_ids:
                log.info(f"Player runs: {source} holds run {shipped.run_id}, already in the replay memory: skipped")
                continue
            if not self.enabled:
                self._refuse(shipped.run_id, f"{source}: online injection is off on this trainer "
                             "(PLAYER_RUNS.ONLINE_INJECTION is false in its config.json)")
                continue
            try:
                with handling(self.note, self.inbox / _file_name(shipped.run_id), f"reading ({source})"):
                    run = read_demo_run(shipped.data, source, self.compat)
                if run.run_id != shipped.run_id:
                    raise PlayerRunsError(f"{source}: sent as run {shipped.run_id!r} but the file holds run "
                                          f"{run.run_id!r}")
                self.inbox.mkdir(parents=True, exist_ok=True)
                stored = self.inbox / _file_name(run.run_id)
                atomic_write_bytes(stored, shipped.data)
            except (PlayerRunsError, OSError) as err:
                self._refuse(shipped.run_id, str(err) if str(err).startswith(source) else f"{source}: {err}")
                continue
            run.source = stored
            accepted.append(run)
        return accepted

    def taken(self, run: RunFile, samples: int, repeat: int, sender_id: str = "") -> None:
        """Records a run injected into the replay memory (``samples`` appended, repeats included) from the
        shipment of ``sender_id`` ("" for a run recovered after a restart)."""
        self.record.run_ids.add(run.run_id)
        self.record.files += 1
        self.record.samples += samples
        detail = f"took it in: {samples // repeat} samples x{repeat} into its replay memory"
        self._said[run.run_id] = wire.Status(wire.TAKEN, detail, sender_id)

    def receipts(self, now: float | None = None) -> dict[str, Any]:
        """The status of every run id asked about recently (receipts are not addressed: see ``wire``)."""
        now = time.monotonic() if now is None else now
        for run_id in [r for r, t in self._asked.items() if now - t > ASKED_RECENTLY_SECONDS]:
            del self._asked[run_id]
        return wire.receipts_message(self.host, {run_id: self.status(run_id) for run_id in self._asked})

    def status(self, run_id: str) -> wire.Status:
        if run_id in self.record.run_ids:
            said = self._said.get(run_id)
            if said is not None and said.status == wire.TAKEN:
                return said
            return wire.Status(wire.ALREADY, "already taken in by this training")
        return self._said.get(run_id, wire.Status(wire.UNKNOWN, "never received"))

    def _refuse(self, run_id: str, reason: str) -> None:
        """``reason`` starts with the run's name and sender."""
        log.warning(f"Player runs: refused {reason}")
        self._said[run_id] = wire.Status(wire.REFUSED, reason)


def _file_name(run_id: str) -> str:
    """A file name for a run id (any printable text): the id itself when it is a safe name."""
    safe = _SAFE.sub("_", run_id)[:120]
    if safe != run_id:
        safe += "-" + hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:12]
    return safe + ".pkl"


class PlayerRunsTrainerInterface(TrainerInterface):
    """tmrl's trainer interface, with shipments set apart from worker samples and receipts sent back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shipments: list[wire.Shipment] = []

    @property
    def _endpoint(self) -> Any:
        return self._TrainerInterface__endpoint  # tmrl keeps it private

    def retrieve_buffer(self) -> Buffer:
        buffer = Buffer()
        for message in self._endpoint.receive_all():
            try:
                shipment = wire.read_shipment(message)
            except wire.WireError as err:
                log.warning(f"Player runs: ignored a message from the server: {err}")
                continue
            if shipment is None:
                buffer += message  # a worker's samples, merged as tmrl merges them
            else:
                self._shipments.append(shipment)
        self._endpoint.notify(groups={TRAINERS: -1})
        return buffer

    def take_shipments(self) -> list[wire.Shipment]:
        shipments, self._shipments = self._shipments, []
        return shipments

    def send_receipts(self, receipts: dict[str, Any]) -> None:
        self._endpoint.produce(receipts, WORKERS)


class PlayerRunsTrainer(Trainer):
    """tmrl's ``Trainer`` with ``PlayerRunsTrainerInterface`` (tmrl's builds its interface in ``__init__``)."""

    def __init__(self, training_cls: Any, *, server_ip: str, model_path: str, checkpoint_path: str | None,
                 dump_run_instance_fn: Any = None, load_run_instance_fn: Any = None, updater_fn: Any = None) -> None:
        self.checkpoint_path = checkpoint_path
        self.dump_run_instance_fn = dump_run_instance_fn
        self.load_run_instance_fn = load_run_instance_fn
        self.updater_fn = updater_fn
        self.training_cls = training_cls
        self.interface = PlayerRunsTrainerInterface(server_ip=server_ip, model_path=model_path)
