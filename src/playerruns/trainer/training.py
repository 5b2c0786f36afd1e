"""The trainer inside tmrl: ``PlayerRunsTraining`` is tmrl's ``TorchTrainingOffline`` plus, on every
buffer update, the runs shipped through the server (``playerruns.trainer.receiving``) and online
injection from SOURCE_PATH, demo-only pretraining of a ``DemoSacAgent`` before the first
epoch, and a per-epoch log of what the demos did (their share of sampled batches, and with the
demo agent its cloning coefficient and the critic's Q on demo and other rows), with the
demo-weighted memories of ``playerruns.trainer.memories``.

Everything here is defined at module level and holds no open resource: tmrl checkpoints the whole
training instance with pickle and resumes from it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from functools import partial
from typing import Any

from tmrl.custom.custom_algorithms import SpinupSacAgent
from tmrl.training_offline import TorchTrainingOffline

from playerruns.progress import TRAINER_PROGRESS_FILE_ENV, write_numbers
from playerruns.rewards import reward_stamp, warn_if_stale
from playerruns.runs.demos import demo_samples
from playerruns.runs.runfile import RunFile, new_run_id
from playerruns.tmrl_bridge import SampleBatch, TmrlSetup, append_safely, load_setup, raw_sample_count
from playerruns.trainer.config import PlayerRunsConfig
from playerruns.trainer.demo_sac import DemoSacAgent
from playerruns.trainer.injection import InjectionRecord, SourcePoller
from playerruns.trainer.memories import WEIGHTED_MEMORIES, DemoWeightedSampling
from playerruns.trainer.receiving import RunDesk

log = logging.getLogger(__name__)


class PlayerRunsTraining(TorchTrainingOffline):
    """tmrl's training loop plus online injection of player runs and demo-fraction logging."""

    def __init__(self, *args: Any, player_runs: PlayerRunsConfig | None = None, **kwargs: Any) -> None:
        self.player_runs = player_runs or PlayerRunsConfig()
        self.injection_record = InjectionRecord()
        self.pretrained_steps = 0
        super().__init__(*args, **kwargs)
        self.connect_agent()
        self.pretrain()
        self.log_memory("starts")

    def connect_agent(self) -> None:
        """A demo-aware agent needs to know which rows of each batch are demos: the memory says so."""
        if isinstance(self.memory, DemoWeightedSampling):
            self.memory.demo_rows_needed = isinstance(self.agent, DemoSacAgent)

    def log_memory(self, how: str) -> None:
        """One line saying what the replay memory holds when training starts or resumes."""
        memory = self.memory
        if isinstance(memory, DemoWeightedSampling):
            raw = raw_sample_count(memory.data)
            log.info(f"Player runs: replay memory {how} with {memory.demo_index.n_demo_samples} demo samples of "
                     f"{raw} ({memory.demo_schedule.describe(raw, memory.sampled_batches)}"
                     f"{', KEEP_DEMOS' if memory.keep_demos else ''})")

    def pretrain(self) -> None:
        """DEMO_PRETRAIN_STEPS demo-only updates of a DemoSacAgent, once, before any worker sample is used."""
        steps = self.player_runs.DEMO_PRETRAIN_STEPS
        memory, agent = self.memory, self.agent
        if not steps or self.pretrained_steps or not isinstance(agent, DemoSacAgent):
            return
        if not isinstance(memory, DemoWeightedSampling) or memory.demo_index.n_demo_samples == 0:
            log.info("Player runs: no demo in the replay memory, DEMO_PRETRAIN_STEPS skipped")
            return
        log.info(f"Player runs: pretraining on {memory.demo_index.n_demo_samples} demo samples for {steps} steps")
        started = time.monotonic()
        stats = [agent.pretrain(memory.sample_demos_only()) for _ in range(steps)]
        self.pretrained_steps = steps
        self._broadcast_pending = True
        tail = stats[-min(100, len(stats)):]
        log.info(f"Player runs: pretraining done in {time.monotonic() - started:.0f} s (last {len(tail)} steps: "
                 f"cloning loss {_mean(tail, 'loss_bc'):.4f}, critic Q on demos {_mean(tail, 'q_demo'):.2f})")

    # transient helpers are rebuilt after a checkpoint is loaded
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for transient in ("_poller", "_setup", "_desk", "_recovered"):
            state.pop(transient, None)
        return state

    def _tmrl_setup(self) -> TmrlSetup:
        if getattr(self, "_setup", None) is None:
            self._setup = load_setup()
        return self._setup

    def _source_poller(self) -> SourcePoller:
        if getattr(self, "_poller", None) is None:
            cfg = self.player_runs
            self._poller = SourcePoller(cfg.source_path, self.injection_record, self._tmrl_setup().compat,
                                        consume=cfg.CONSUME_ON_READ, max_files=cfg.MAX_FILES_PER_UPDATE,
                                        reject_after=cfg.REJECT_AFTER_SECONDS)
        return self._poller

    def _run_desk(self) -> RunDesk:
        if getattr(self, "_desk", None) is None:
            cfg = self.player_runs
            if not hasattr(self.injection_record, "training_id"):  # a record checkpointed by playerruns < 0.8
                self.injection_record.training_id = new_run_id()
            self._desk = RunDesk(self.injection_record, self._tmrl_setup().compat, cfg.received_path,
                                 enabled=cfg.ONLINE_INJECTION)
        return self._desk

    def update_buffer(self, interface: Any) -> None:
        super().update_buffer(interface)
        self.receive_player_runs(interface)
        if self.player_runs.ONLINE_INJECTION:
            self.inject_player_runs()
        self.publish_progress()

    def receive_player_runs(self, interface: Any) -> int:
        """Injects the runs shipped through the server since the last update and answers each shipment;
        first, after a restart, the runs received after the last checkpoint. Returns the samples appended."""
        take = getattr(interface, "take_shipments", None)
        if take is None:  # a stock tmrl interface: shipments cannot reach this trainer
            return 0
        desk = self._run_desk()
        appended = 0
        if not getattr(self, "_recovered", False):
            self._recovered = True
            runs = desk.recover()
            if runs:
                log.info(f"Player runs: {len(runs)} run(s) in {desk.inbox} were received after the last checkpoint")
                appended += self._inject(runs, " received before the restart", desk)
        for shipment in take():
            runs = desk.receive(shipment)
            if runs:
                appended += self._inject(runs, f" sent from {shipment.sender}", desk, shipment.sender_id)
            interface.send_receipts(desk.receipts())
        return appended

    def _inject(self, runs: list[RunFile], origin: str, desk: RunDesk, sender_id: str = "") -> int:
        counts = self._append_runs(runs, origin)
        for run, count in zip(runs, counts, strict=True):
            desk.taken(run, count, self.player_runs.DEMO_INJECTION_REPEAT, sender_id)
        return sum(counts)

    def publish_progress(self) -> None:
        """Writes ``<updates> <samples>`` to PLAYERRUNS_TRAINER_PROGRESS_FILE when that is set (opt-in).

        tmrl's trainer waits when it is ahead of the worker, never the other way round; the built-in
        experiment reads this file to hold its worker back when the trainer falls behind, so that
        both arms train at the same updates per environment step on any machine.
        """
        target = os.environ.get(TRAINER_PROGRESS_FILE_ENV)
        if not target or getattr(self, "_published", None) == self.total_updates:
            return
        write_numbers(target, self.total_updates, self.total_samples)
        self._published = self.total_updates

    def inject_player_runs(self) -> int:
        """Polls SOURCE_PATH once and injects what is new; returns the samples appended."""
        poller = self._source_poller()
        runs = poller.poll()
        counts = self._append_runs(runs, "")
        for run, count in zip(runs, counts, strict=True):
            poller.mark_injected(run, count)
        return sum(counts)

    def _append_runs(self, runs: list[RunFile], origin: str) -> list[int]:
        """Appends runs to the replay memory as demos, DEMO_INJECTION_REPEAT times each, and logs it;
        returns the samples appended per run."""
        repeat = self.player_runs.DEMO_INJECTION_REPEAT
        counts = []
        stamp = reward_stamp(self._tmrl_setup()) if runs else None
        for run in runs:
            warn_if_stale(run, stamp)
            samples = demo_samples(run, self._tmrl_setup().compress)
            append_safely(self.memory, SampleBatch(samples * repeat))  # one append: tmrl trims once
            counts.append(len(samples) * repeat)
        if runs:
            appended = sum(counts)
            self.total_samples += appended
            log.info(f"Player runs injected {len(runs)} file(s){origin}: {appended // repeat} samples x{repeat} "
                     f"repeat = {appended} samples (run ids: {', '.join(r.run_id for r in runs)})")
        return counts

    def run_epoch(self, interface: Any) -> list[Any]:
        if getattr(self, "_broadcast_pending", False):  # the worker's next episode drives the pretrained policy
            interface.broadcast_model(self.agent.get_actor())
            self._broadcast_pending = False
        memory = self.memory
        before = (getattr(memory, "sampled_demos", 0), getattr(memory, "sampled_total", 0))
        stats = super().run_epoch(interface)
        if isinstance(memory, DemoWeightedSampling):
            demos = memory.sampled_demos - before[0]
            total = memory.sampled_total - before[1]
            fraction = demos / total if total else 0.0
            in_memory = memory.demo_index.n_demo_samples
            raw = raw_sample_count(memory.data)
            log.info(f"Player runs: demo fraction of sampled batches this epoch: {fraction:.3f} "
                     f"({memory.demo_schedule.describe(raw, memory.sampled_batches)}; {in_memory} of {raw} samples "
                     f"in memory are demos)")
            for s in stats:  # tmrl sends these to wandb with the round's other statistics
                s["demo_fraction_sampled"] = fraction
                s["demo_fraction_memory"] = in_memory / raw if raw else 0.0
        if isinstance(self.agent, DemoSacAgent) and stats:
            log.info(f"Player runs: demo cloning this epoch: coefficient {_mean(stats, 'bc_coef'):.3g}, applied to "
                     f"{100 * _mean(stats, 'bc_rows'):.1f}% of batch rows; critic mean Q on demo rows "
                     f"{_mean(stats, 'q_demo'):.2f}, on other rows {_mean(stats, 'q_other'):.2f}")
        return stats


def update_training_instance(run_instance: Any, training_cls: partial, tmrl_updater: Any = None) -> Any:
    """Runs tmrl's checkpoint updater, then brings a resumed instance up to the current PLAYER_RUNS config.

    A checkpoint made by a stock tmrl trainer is upgraded in place (its memory and record kept).
    """
    previous = run_instance
    if tmrl_updater is not None:
        run_instance = tmrl_updater(run_instance, training_cls)
    config = training_cls.keywords.get("player_runs") or PlayerRunsConfig()
    if not isinstance(run_instance, PlayerRunsTraining):
        run_instance.__class__ = PlayerRunsTraining
        run_instance.injection_record = InjectionRecord()
    if run_instance is not previous and isinstance(previous, PlayerRunsTraining):
        run_instance.injection_record = previous.injection_record  # RESET_TRAINING keeps the memory, so the record
    run_instance.player_runs = config
    if not hasattr(run_instance, "pretrained_steps"):
        run_instance.pretrained_steps = 0
    memory = run_instance.memory
    if not isinstance(memory, DemoWeightedSampling) and type(memory) in WEIGHTED_MEMORIES:
        memory.__class__ = WEIGHTED_MEMORIES[type(memory)]
        memory.init_demo_state(config.schedule, config.KEEP_DEMOS)
        memory.rebuild_demo_index()
    if isinstance(memory, DemoWeightedSampling):
        memory.demo_schedule = config.schedule
        memory.keep_demos = config.KEEP_DEMOS
        if not hasattr(memory, "sampled_batches"):
            memory.sampled_batches = 0
    agent = run_instance.agent
    if config.uses_demo_agent and not isinstance(agent, DemoSacAgent) and isinstance(agent, SpinupSacAgent):
        agent.__class__ = DemoSacAgent  # a checkpoint of the stock agent: same networks, cloning from now on
        agent.bc_steps = 0
    if isinstance(agent, DemoSacAgent):  # the coefficients may have changed in config.json
        agent.bc_coef, agent.bc_decay_steps = config.DEMO_BC_COEF, config.DEMO_BC_DECAY_STEPS
        agent.bc_q_filter, agent.actor_warmup_steps = config.DEMO_BC_Q_FILTER, config.DEMO_ACTOR_WARMUP_STEPS
    run_instance.connect_agent()
    run_instance.log_memory("resumes")
    return run_instance


def _mean(stats: list[Any], key: str) -> float:
    """Mean of one statistic over tmrl's per-round (or per-step) dicts, skipping the missing and NaN."""
    values = [float(s[key]) for s in stats if key in s and not math.isnan(float(s[key]))]
    return sum(values) / len(values) if values else math.nan
