"""Builds the MiniTrack trainer with POLICY_AVERAGING_CATCH_UP on imported demos, trains a round (the averaged
policy exists), then makes the actor and the averaged policy drive one constant action each: full gas straight on
(progress before the wall: a return above 0) and no gas (stuck: 0). Asks the trainer to evaluate, both ways round,
then with the key off. Prints JSON."""

import json
from dataclasses import replace

import torch
from tests.helpers import train_round, trainer_on_demos

cls, trainer, worker = trainer_on_demos()
trainer.memory.append(worker)
train_round(trainer)  # one round: the averaged policy is built
agent = trainer.agent
evaluator = trainer.evaluator()
GAS, STILL = (1.0, -1.0, 0.0), (-1.0, -1.0, 0.0)  # [gas, brake, steer]


def drive(actor, action) -> None:
    with torch.no_grad():
        actor.mu_layer.weight.zero_()
        actor.mu_layer.bias.copy_(torch.atanh(torch.tensor(action).clamp(-0.999, 0.999)))


def weights(actor) -> list[torch.Tensor]:
    return [p.detach().clone() for p in actor.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


out = {}
drive(agent.model.actor, GAS)
drive(agent.averaged_actor, STILL)
trainer.broadcast_pending = False
record: dict = {}
evaluation = trainer.evaluate_policy(evaluator, record)
out["ahead"] = {"mean": evaluation.mean, "record": record, "broadcast_pending": trainer.broadcast_pending,
                "average_is_actor": same(weights(agent.get_actor()), weights(agent.model.actor))}

drive(agent.model.actor, STILL)
drive(agent.averaged_actor, GAS)
averaged = weights(agent.averaged_actor)
trainer.broadcast_pending = False
record = {}
evaluation = trainer.evaluate_policy(evaluator, record)
out["behind"] = {"mean": evaluation.mean, "record": record, "broadcast_pending": trainer.broadcast_pending,
                 "average_kept": same(weights(agent.averaged_actor), averaged)}

trainer.player_runs = replace(trainer.player_runs, POLICY_AVERAGING_CATCH_UP=False)
drive(agent.model.actor, GAS)
drive(agent.averaged_actor, STILL)
averaged = weights(agent.averaged_actor)
record = {}
evaluation = trainer.evaluate_policy(evaluator, record)
out["off"] = {"mean": evaluation.mean, "record": record, "average_kept": same(weights(agent.averaged_actor), averaged)}
print(json.dumps(out))
