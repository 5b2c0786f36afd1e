"""Builds the trainer with DEMO_BC_FLOOR_RAISE on imported demos (the cloning weight decaying from 0.4 to a floor of
0.01 over 20 updates), keeps a best policy, then asks it to roll back: on a fall while the weight still decays, on a
fall at the floor, on a tie in longer episodes at the floor, and on a fall after tmrl's own checkpoint round trip.
Prints JSON: the floor and the weight after each."""

import json

import tmrl.config.config_constants as cfg
from tests.helpers import train_round, trainer_on_demos
from tmrl.networking import dump_run_instance, load_run_instance

from playerruns.trainer.best import EpochScore
from playerruns.trainer.training import update_training_instance

cls, trainer, worker = trainer_on_demos()
trainer.memory.append(worker)


def state(instance, put_back: bool) -> dict:
    agent = instance.agent
    return {"put_back": put_back, "floor": agent.bc_floor(), "coef": agent.bc_coef_now(), "steps": agent.bc_steps}


def fall(instance) -> bool:
    return instance.roll_back_if_worse(EpochScore(-160.0, 30.0, by="evaluation"))


train_round(trainer)
trainer.best_policy.consider([], trainer.agent.get_actor(), trainer.counters(), EpochScore(-100.0, 30.0,
                                                                                           by="evaluation"))
out = {"decaying": state(trainer, fall(trainer))}  # 8 updates of 20: still decaying
train_round(trainer)
train_round(trainer)  # 24 updates: at the floor
out["at_floor"] = state(trainer, fall(trainer))
out["slower"] = state(trainer, trainer.roll_back_if_worse(EpochScore(-100.2, 40.0, by="evaluation")))
out["again"] = state(trainer, fall(trainer))
checkpoint = str(cfg.CHECKPOINT_PATH)  # tmrl's own checkpoint functions, on the file its Trainer uses
dump_run_instance(trainer, checkpoint)
resumed = update_training_instance(load_run_instance(checkpoint), cls)
out["resumed"] = state(resumed, False)
train_round(resumed)
out["resumed_fall"] = state(resumed, fall(resumed))
for _ in range(5):  # falls keep doubling it, up to the starting weight
    fall(resumed)
out["capped"] = state(resumed, False)
print(json.dumps(out))
