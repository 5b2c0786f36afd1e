"""Builds the trainer with the learning-side levers on imported demos, trains a few steps, checkpoints it
with tmrl's own checkpoint functions and resumes it; prints as JSON what each stage did."""

import json

import tmrl.config.config_constants as cfg
import torch
from tests.helpers import trainer_on_demos
from tmrl.custom.custom_algorithms import SpinupSacAgent
from tmrl.networking import dump_run_instance, load_run_instance

from playerruns.trainer.training import update_training_instance

cls, trainer, worker = trainer_on_demos()
out = {}
out["agent"] = type(trainer.agent).__name__
out["pretrained_steps"] = trainer.pretrained_steps
trainer.memory.append(worker)
stats = [trainer.agent.train(batch) for batch in trainer.memory]  # one round, as tmrl's run_epoch draws it
out["bc_rows"] = [s["bc_rows"] for s in stats]
out["bc_steps"] = trainer.agent.bc_steps
actor = {k: v.clone() for k, v in trainer.agent.model.actor.state_dict().items()}


def same_actor(agent) -> bool:
    return all(torch.equal(actor[k], v) for k, v in agent.model.actor.state_dict().items())


checkpoint = str(cfg.CHECKPOINT_PATH)  # tmrl's own checkpoint functions, on the file its Trainer uses
dump_run_instance(trainer, checkpoint)
resumed = update_training_instance(load_run_instance(checkpoint), cls)
out["resumed_agent"] = type(resumed.agent).__name__
out["resumed_pretrained_steps"] = resumed.pretrained_steps
out["resumed_bc_steps"] = resumed.agent.bc_steps
out["resumed_rows_needed"] = resumed.memory.demo_rows_needed
out["resumed_same_actor"] = same_actor(resumed.agent)
out["resumed_bc_coef_now"] = resumed.agent.bc_coef_now()
# a checkpoint of tmrl's stock agent (a SpinupSacAgent: none of the cloning settings) is upgraded in place:
# the same networks, cloning from then on with the config's settings
stock = load_run_instance(checkpoint)
stock.agent.__class__ = SpinupSacAgent
for name in ("bc_coef", "bc_decay_steps", "bc_coef_final", "bc_q_filter", "actor_warmup_steps", "bc_steps"):
    del stock.agent.__dict__[name]
upgraded = update_training_instance(stock, cls)
kept_actor = same_actor(upgraded.agent)
first = upgraded.agent.train(upgraded.memory.sample())
out["upgraded"] = {"agent": type(upgraded.agent).__name__, "same_actor": kept_actor,
                   "bc_coef": upgraded.agent.bc_coef, "bc_coef_final": upgraded.agent.bc_coef_final,
                   "warmup": upgraded.agent.actor_warmup_steps,
                   "bc_rows": first["bc_rows"], "bc_steps": upgraded.agent.bc_steps}
print(json.dumps(out))
