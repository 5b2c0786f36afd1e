"""Builds the trainer with ROLLBACK_TOLERANCE (and ROLLBACK_LONGER_EPISODES) on imported demos, keeps a best
policy, lets the actor move on, then asks the trainer to roll back, on a lower score and on a tie in longer
episodes (and on the tie with ROLLBACK_LONGER_EPISODES off); does the same after tmrl's own checkpoint round
trip. Prints JSON."""

import json
from dataclasses import replace

import tmrl.config.config_constants as cfg
import torch
from tests.helpers import train_round, trainer_on_demos
from tmrl.networking import dump_run_instance, load_run_instance

from playerruns.trainer.best import EpochScore
from playerruns.trainer.console import epoch_line
from playerruns.trainer.training import update_training_instance

cls, trainer, worker = trainer_on_demos()
trainer.memory.append(worker)


def weights(actor) -> list[torch.Tensor]:
    return [p.detach().clone() for p in actor.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


train_round(trainer)
good = EpochScore(-100.0, 30.0, by="evaluation")
out = {"kept": trainer.best_policy.consider([], trainer.agent.get_actor(), trainer.counters(), good)}
kept = weights(trainer.agent.get_actor())
train_round(trainer)
out["moved"] = not same(weights(trainer.agent.get_actor()), kept)
trainer.broadcast_pending = False
out["within"] = trainer.roll_back_if_worse(EpochScore(-102.0, 30.0, by="evaluation"))  # 2 % worse: kept on
out["fell"] = trainer.roll_back_if_worse(EpochScore(-160.0, 30.0, by="evaluation"))
out["put_back"] = same(weights(trainer.agent.get_actor()), kept) and same(weights(trainer.agent.model.actor), kept)
out["broadcast_pending"] = trainer.broadcast_pending
out["line"] = epoch_line({**trainer.counters(), "rolled_back": True, "rolled_back_to_epoch": 0})

tie_longer = EpochScore(-100.2, 40.0, by="evaluation")  # the same return (within 0.5 %), a third more steps
configured = trainer.player_runs
trainer.player_runs = replace(configured, ROLLBACK_LONGER_EPISODES=False)
train_round(trainer)
out["slower_when_off"] = trainer.roll_back_if_worse(tie_longer)
out["moved_when_off"] = not same(weights(trainer.agent.get_actor()), kept)
trainer.player_runs = configured
out["slower_within"] = trainer.roll_back_if_worse(EpochScore(-100.0, 30.5, by="evaluation"))  # 1.7 % longer
out["slower"] = trainer.roll_back_if_worse(tie_longer)
out["slower_put_back"] = same(weights(trainer.agent.get_actor()), kept)

checkpoint = str(cfg.CHECKPOINT_PATH)  # tmrl's own checkpoint functions, on the file its Trainer uses
dump_run_instance(trainer, checkpoint)
resumed = update_training_instance(load_run_instance(checkpoint), cls)
train_round(resumed)
out["resumed_moved"] = not same(weights(resumed.agent.get_actor()), kept)
out["resumed_fell"] = resumed.roll_back_if_worse(EpochScore(-160.0, 30.0, by="evaluation"))
out["resumed_put_back"] = same(weights(resumed.agent.get_actor()), kept)
out["resumed_rollbacks"] = resumed.best_policy.rollbacks

# ROLLBACK_PATIENCE 2: the resumed trainer put the best back after 2 epochs in a row (the one before the checkpoint
# and the one after): the next fall is not put back, nor the one after it; an epoch at the best's level re-arms it
resumed.player_runs = replace(resumed.player_runs, ROLLBACK_PATIENCE=2)
train_round(resumed)
patience = {"in_a_row": resumed.best_policy.in_a_row,
            "third": resumed.roll_back_if_worse(EpochScore(-160.0, 30.0, by="evaluation"))}
patience["learns_on"] = not same(weights(resumed.agent.get_actor()), kept)
patience["given_up"] = resumed.best_policy.given_up
patience["fourth"] = resumed.roll_back_if_worse(EpochScore(-170.0, 30.0, by="evaluation"))
resumed.roll_back_if_worse(EpochScore(-90.0, 30.0, by="workers"))  # between evaluations: neither a fall nor a level
patience["still_given_up"] = resumed.best_policy.given_up
patience["line"] = epoch_line({**resumed.counters(), "rollback_given_up": True})
patience["level"] = resumed.roll_back_if_worse(EpochScore(-101.0, 30.0, by="evaluation"))  # within 3 %: re-armed
patience["re_armed"] = not resumed.best_policy.given_up and resumed.best_policy.in_a_row == 0
patience["after"] = resumed.roll_back_if_worse(EpochScore(-160.0, 30.0, by="evaluation"))
patience["after_put_back"] = same(weights(resumed.agent.get_actor()), kept)
out["patience"] = patience
print(json.dumps(out))
