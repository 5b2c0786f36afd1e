"""One TrackMania lidar run reaches three trainers' replay memories by the three paths: imported into
data.pkl before the trainer starts, injected from SOURCE_PATH, and sent (the sender's own message,
read back as the trainer's server connection reads it). Prints, as JSON, whether the three memories
hold the same bytes (item by item: pickling a whole column also records which items share objects,
which loading data.pkl changes), and how many arrays in each still view a larger array."""

import json
import pickle
import shutil
import sys
from typing import Any

import numpy as np
import tmrl.config.config_constants as cfg

from playerruns.bridge.dataset import DATASET_FILE, import_runs
from playerruns.bridge.setup import load_setup
from playerruns.runs.demos import demo_samples
from playerruns.runs.runfile import save_run
from playerruns.runs.sample import OBS
from playerruns.shipping import wire
from playerruns.shipping.link import serialize
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import training_cls


class OneShipment:
    """What the trainer's loop asks of its server interface: the shipments received, and a way back."""

    def __init__(self, shipment: wire.Shipment) -> None:
        self.shipments = [shipment]
        self.receipts: list[dict[str, Any]] = []

    def take_shipments(self) -> list[wire.Shipment]:
        shipments, self.shipments = self.shipments, []
        return shipments

    def send_receipts(self, receipts: dict[str, Any]) -> None:
        self.receipts.append(receipts)


def views(data: list[list[Any]]) -> int:
    """Arrays in the memory that are views of a larger array (keeping all of it alive)."""
    count = 0
    for column in data:
        for item in column:
            for leaf in item if isinstance(item, tuple) else (item,):
                base = leaf.base if isinstance(leaf, np.ndarray) else None
                if isinstance(base, np.ndarray) and base.nbytes > leaf.nbytes:
                    count += 1
    return count


setup = load_setup()
player_runs = parse_player_runs(cfg.TMRL_CONFIG)
run = synthetic_run(setup, episodes=2, steps=30, rng=np.random.default_rng(int(sys.argv[1])))
original = save_run(setup.dataset_path.parent / "original.pkl", run)
make_trainer = training_cls(setup, player_runs)

import_runs([str(original)], setup)
imported = make_trainer().memory
(setup.dataset_path / DATASET_FILE).unlink()

player_runs.source_path.mkdir(parents=True, exist_ok=True)
shutil.copy(original, player_runs.source_path / "run.pkl")
injector = make_trainer()
injected_samples = injector.inject_player_runs()
injected = injector.memory

message = pickle.loads(serialize(wire.Shipment(sender="test", runs=[wire.ShippedRun(run.run_id, "run.pkl",
                                                                                     original.read_bytes())])))
receiver = make_trainer()
interface = OneShipment(wire.read_shipment(message))
sent_samples = receiver.receive_player_runs(interface)
sent = receiver.memory

items = {name: [[pickle.dumps(item, protocol=4) for item in column] for column in memory.data]
         for name, memory in (("imported", imported), ("injected", injected), ("sent", sent))}
compressed = [demo_samples(run, setup.compress)]  # tagged and compressed, views not detached: what the
undetached = [[s[OBS] for s in samples] for samples in compressed]  # measure below must be able to see
print(json.dumps({
    "samples": {"imported": len(imported.data[0]), "injected": injected_samples, "sent": sent_samples},
    "columns": len(items["imported"]),
    "same_bytes": items["imported"] == items["injected"] == items["sent"],
    "views": {"imported": views(imported.data), "injected": views(injected.data), "sent": views(sent.data),
              "undetached": views(undetached)},
    "receipt": interface.receipts[-1]["statuses"] if interface.receipts else None,
}, default=str))
