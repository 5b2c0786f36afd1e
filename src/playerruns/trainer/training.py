"""The trainer inside tmrl: ``PlayerRunsTraining`` is tmrl's ``TorchTrainingOffline`` plus, on every
buffer update, the runs shipped through the server (``playerruns.trainer.receiving``) and online
injection from SOURCE_PATH, demo-only pretraining of a ``DemoSacAgent`` before the first
epoch, and the statistics channel (``playerruns.trainer.statistics``): what the replay memory
holds, each injection, and per epoch what the demos did (their share of sampled batches, and with
the demo agent its cloning coefficient and the critic's Q on demo and other rows), with the
demo-weighted memories of ``playerruns.trainer.memories``.

Everything here is defined at module level and holds no open resource: tmrl checkpoints the whole
training instance with pickle and resumes from it. Its helpers that hold configuration or files
(the setup, the folder poller, the desk of shipped runs, the handling note) are transient: rebuilt
after a resume.

Nothing a person drove is lost to a crash: every run is kept in the desk's folder before its samples
are appended (``RunDesk.keep``), the first buffer update after a start injects again what the
checkpoint lacks, and ``save_checkpoint`` (tmrl's checkpoint function, wrapped) lets the desk drop
the copies a new checkpoint holds. A run file whose handling killed the trainer is set aside at the
next start (``playerruns.trainer.handling``).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tmrl.custom.custom_algorithms import SpinupSacAgent
from tmrl.training_offline import TorchTrainingOffline
from tqdm import tqdm

from playerruns.bridge.dataset import DATASET_FILE, dataset_run_ids
from playerruns.bridge.demo_path import DemoPath
from playerruns.bridge.setup import SampleBatch, TmrlSetup, append_safely, load_setup, raw_sample_count, run_name
from playerruns.runs.errors import one_line
from playerruns.runs.runfile import RunFile
from playerruns.trainer.best import BestPolicy, EpochScore, best_weights_path
from playerruns.trainer.config import PlayerRunsConfig
from playerruns.trainer.console import Watch, epoch_line
from playerruns.trainer.demo_sac import DemoSacAgent
from playerruns.trainer.evaluation import PolicyEvaluation, TrainerEvaluation
from playerruns.trainer.handling import HandlingNote
from playerruns.trainer.injection import InjectionRecord, SourcePoller
from playerruns.trainer.memories import WEIGHTED_MEMORIES, DemoWeightedSampling
from playerruns.trainer.receiving import RunDesk
from playerruns.trainer.sinks import Sinks, build_sinks
from playerruns.trainer.statistics import StatisticsLog, statistics_file

log = logging.getLogger(__name__)


# rebuilt after a checkpoint is loaded
TRANSIENT = ("_setup", "_poller", "_desk", "_note", "_recovered", "_sinks", "_evaluation")


class PlayerRunsTraining(TorchTrainingOffline):
    """tmrl's training loop plus online injection of player runs and the statistics channel."""

    player_runs: PlayerRunsConfig
    injection_record: InjectionRecord
    statistics: StatisticsLog
    pretrained_steps: int  # demo-only updates done before the first epoch (0: none)
    broadcast_pending: bool  # the pretrained policy still has to reach the workers
    best_policy: BestPolicy | None  # the best epoch's policy, kept beside the latest (None: KEEP_BEST_POLICY off)
    _setup: TmrlSetup | None
    _poller: SourcePoller | None
    _desk: RunDesk | None
    _note: HandlingNote | None
    _recovered: bool  # the runs received after the last checkpoint have been injected again
    watch: Watch  # how the trainer is watched (its command line)
    _sinks: Sinks | None  # TensorBoard, wandb
    _evaluation: TrainerEvaluation | None  # the trainer's own evaluation (EVALUATION_EPISODES)

    def __init__(self, *args: Any, player_runs: PlayerRunsConfig | None = None, watch: Watch | None = None,
                 **kwargs: Any) -> None:
        self.player_runs = player_runs or PlayerRunsConfig()
        self.watch = watch or Watch()
        self.injection_record = InjectionRecord()
        self.statistics = StatisticsLog(statistics_file(self.player_runs.statistics_path, run_name()))
        self.pretrained_steps = 0
        self.broadcast_pending = False
        self.best_policy = _best_policy(self.player_runs)
        self._reset_transients()
        self.attach_sinks()
        super().__init__(*args, **kwargs)
        self.note_memory_runs()
        self.connect_agent()
        self.pretrain()
        self.log_memory("start")

    @classmethod
    def from_stock(cls, stock: TorchTrainingOffline, config: PlayerRunsConfig) -> PlayerRunsTraining:
        """A PlayerRunsTraining holding the state of a stock tmrl trainer's checkpoint (its memory, agent
        and counters), with nothing injected yet."""
        instance = cls.__new__(cls)
        instance.__dict__.update(stock.__dict__)
        instance.player_runs = config
        instance.injection_record = InjectionRecord()
        instance.statistics = StatisticsLog(statistics_file(config.statistics_path, run_name()))
        instance.pretrained_steps = 0
        instance.broadcast_pending = False
        instance.best_policy = _best_policy(config)
        instance.watch = Watch()
        instance._reset_transients()
        return instance

    def _reset_transients(self) -> None:
        self._setup = None
        self._poller = None
        self._desk = None
        self._note = None
        self._recovered = False
        self._sinks = None
        self._evaluation = None

    def attach_sinks(self) -> None:
        """Feeds the statistics channel to the sinks the configuration and command line ask for (again after
        a resume: sinks are transient)."""
        if self._sinks is not None:
            self._sinks.close()
        self._sinks = build_sinks(self.player_runs, wandb=self.watch.wandb, run_name=run_name())
        self.statistics.listener = self._sinks if self._sinks.sinks else None

    def evaluator(self) -> TrainerEvaluation | None:
        """The trainer's own evaluation (``EVALUATION_EPISODES``), built on first use; None when it is off or the
        task is not a gymnasium id the trainer can step."""
        config = self.player_runs
        env_id = self._tmrl_setup().env_id
        if not config.EVALUATION_EPISODES or env_id is None:
            return None
        if self._evaluation is None:
            self._evaluation = TrainerEvaluation(env_id, config.EVALUATION_EPISODES, config.EVALUATE_EVERY_EPOCHS,
                                                 first_seed=config.EVALUATION_SEED)
        return self._evaluation

    def note_memory_runs(self) -> None:
        """Adds the player runs the replay memory holds (from data.pkl, say) to the injection record, so that
        SOURCE_PATH never injects them a second time."""
        self.injection_record.run_ids |= dataset_run_ids(self.memory.data)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for transient in TRANSIENT:
            state.pop(transient, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        legacy = self.__dict__.pop("_broadcast_pending", False)  # the name in earlier checkpoints
        self.__dict__.setdefault("broadcast_pending", legacy)
        self.__dict__.setdefault("pretrained_steps", 0)
        self.__dict__.setdefault("watch", Watch())
        if "best_policy" not in self.__dict__:  # a checkpoint of an earlier version
            self.best_policy = _best_policy(self.player_runs)
        self._reset_transients()

    def connect_agent(self) -> None:
        """A demo-aware agent needs to know which rows of each batch are demos: the memory says so."""
        if isinstance(self.memory, DemoWeightedSampling):
            self.memory.demo_rows_needed = isinstance(self.agent, DemoSacAgent)

    def counters(self) -> dict[str, int]:
        """The counters every statistics record carries."""
        return {"epoch": int(self.epoch), "updates": int(self.total_updates), "env_steps": int(self.total_samples)}

    def log_memory(self, how: str) -> None:
        """What the replay memory holds when training starts or resumes: a log line and a record."""
        memory = self.memory
        raw = raw_sample_count(memory.data)
        demos = memory.demo_index.n_demo_samples if isinstance(memory, DemoWeightedSampling) else 0
        schedule = memory.demo_schedule.describe(raw, memory.sampled_batches) \
            if isinstance(memory, DemoWeightedSampling) else "stock memory"
        if isinstance(memory, DemoWeightedSampling):
            log.info(f"Player runs: replay memory {how}s with {demos} demo samples of {raw} ({schedule}"
                     f"{', KEEP_DEMOS' if memory.keep_demos else ''})")
        self.statistics.write(how, **self.counters(), memory_samples=raw, demo_samples=demos, schedule=schedule,
                              pretrain_steps=self.pretrained_steps)
        if how == "start" and demos and self.total_samples >= max(self.start_training, 1):
            self._say_demos_alone()

    def _say_demos_alone(self) -> None:
        """tmrl counts the samples of data.pkl as environment steps: with at least ENVIRONMENT_STEPS_BEFORE_TRAINING
        of them, it trains on them before any worker sample, up to its update ratio. Said once, at start."""
        updates = int(self.max_training_steps_per_env_step * self.total_samples)
        per_epoch = max(1, self.rounds * self.steps)
        log.info(f"Player runs: the replay memory starts with {self.total_samples} samples, at least "
                 f"ENVIRONMENT_STEPS_BEFORE_TRAINING ({self.start_training}): training starts on them alone, up to "
                 f"{updates} updates (about {updates / per_epoch:.1f} epochs) before it waits for worker samples")

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
        bar = tqdm(range(steps), desc="pretraining on demos", unit="step", file=sys.stderr, leave=False,
                   disable=not sys.stderr.isatty())  # a bar on a terminal; the two log lines say it everywhere
        stats = [agent.pretrain(memory.sample_demos_only()) for _ in bar]
        self.pretrained_steps = steps
        self.broadcast_pending = True
        tail = stats[-min(100, len(stats)):]
        seconds = time.monotonic() - started
        log.info(f"Player runs: pretraining done in {seconds:.0f} s (last {len(tail)} steps: "
                 f"cloning loss {_mean(tail, 'loss_bc'):.4f}, critic Q on demos {_mean(tail, 'q_demo'):.2f})")
        self.statistics.write("pretrain", **self.counters(), steps=steps, seconds=round(seconds, 2),
                              loss_bc=_mean(tail, "loss_bc"), q_demo=_mean(tail, "q_demo"))

    def _tmrl_setup(self) -> TmrlSetup:
        if self._setup is None:
            self._setup = load_setup()
        return self._setup

    def _handling_note(self) -> HandlingNote:
        if self._note is None:
            self._note = HandlingNote(self.player_runs.received_path / f".handling-{run_name()}.json")
        return self._note

    def _source_poller(self) -> SourcePoller:
        if self._poller is None:
            cfg = self.player_runs
            self._poller = SourcePoller(cfg.source_path, self.injection_record, self._tmrl_setup().compat,
                                        consume=cfg.CONSUME_ON_READ, max_files=cfg.MAX_FILES_PER_UPDATE,
                                        reject_after=cfg.REJECT_AFTER_SECONDS, note=self._handling_note())
        return self._poller

    def _run_desk(self) -> RunDesk:
        if self._desk is None:
            cfg = self.player_runs
            self._desk = RunDesk(self.injection_record, self._tmrl_setup().compat, cfg.received_path,
                                 enabled=cfg.ONLINE_INJECTION, name=run_name(), note=self._handling_note())
        return self._desk

    def update_buffer(self, interface: Any) -> None:
        super().update_buffer(interface)
        self.recover_player_runs()
        self.receive_player_runs(interface)
        if self.player_runs.ONLINE_INJECTION:
            self.inject_player_runs()
        if self.statistics.progress_due():
            self.statistics.write("progress", **self.counters())

    def recover_player_runs(self) -> int:
        """Once after a start: sets aside a run file that killed the trainer, then injects the kept runs the
        checkpoint lacks (received or injected after it). Returns the samples appended."""
        if self._recovered:
            return 0
        self._recovered = True
        self._handling_note().quarantine_left_behind()
        desk = self._run_desk()
        runs = desk.recover()
        if not runs:
            return 0
        log.info(f"Player runs: {len(runs)} run(s) kept in {desk.inbox} are not in the checkpoint: injecting "
                 "them again")
        return self._inject(runs, " kept before the restart", desk)

    def checkpointed(self) -> None:
        """A checkpoint of this instance was just saved: the kept copies of the runs it holds can go."""
        removed = self._run_desk().forget_checkpointed()
        if removed:
            log.debug(f"Player runs: {removed} kept run(s) are in the checkpoint now")

    def receive_player_runs(self, interface: Any) -> int:
        """Injects the runs shipped through the server since the last update and answers each shipment.
        Returns the samples appended."""
        take = getattr(interface, "take_shipments", None)
        if take is None:  # a stock tmrl interface: shipments cannot reach this trainer
            return 0
        desk = self._run_desk()
        appended = 0
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

    def inject_player_runs(self) -> int:
        """Polls SOURCE_PATH once and injects what is new; returns the samples appended."""
        poller = self._source_poller()
        runs = poller.poll()
        desk = self._run_desk()
        kept = [desk.keep(run) for run in runs]
        counts = self._append_runs(runs, "")
        for run, count, was_kept in zip(runs, counts, kept, strict=True):
            poller.mark_injected(run, count, consume=was_kept)
        return sum(counts)

    def _append_runs(self, runs: list[RunFile], origin: str) -> list[int]:
        """Appends runs to the replay memory as demos, DEMO_INJECTION_REPEAT times each, through the one
        demo path (``playerruns.bridge.demo_path``), and reports it; returns the samples appended per run."""
        if not runs:
            return []
        repeat = self.player_runs.DEMO_INJECTION_REPEAT
        demo_path = DemoPath(self._tmrl_setup())
        note = self._handling_note()
        counts = []
        for run in runs:
            with note.handling(run.source or Path(run.run_id), "appending the samples of"):
                samples = demo_path.memory_samples(run)
                append_safely(self.memory, SampleBatch(samples * repeat))  # one append: tmrl trims once
            counts.append(len(samples) * repeat)
        demo_path.warn_if_step_limit_tight(f"{len(runs)} file(s) injected{origin}")
        appended = sum(counts)
        self.total_samples += appended
        run_ids = [r.run_id for r in runs]
        log.info(f"Player runs injected {len(runs)} file(s){origin}: {appended // repeat} samples x{repeat} "
                 f"repeat = {appended} samples (run ids: {', '.join(run_ids)})")
        self.statistics.write("injection", **self.counters(), origin=origin.strip() or "SOURCE_PATH",
                              run_ids=run_ids, samples=appended // repeat, repeat=repeat, appended=appended)
        return counts

    def run_epoch(self, interface: Any) -> list[Any]:
        if self.broadcast_pending:  # the worker's next episode drives the pretrained policy
            interface.broadcast_model(self.agent.get_actor())
            self.broadcast_pending = False
        memory = self.memory
        weighted = isinstance(memory, DemoWeightedSampling)
        before = (memory.sampled_demos, memory.sampled_total) if weighted else (0, 0)
        stats = super().run_epoch(interface)
        record: dict[str, Any] = {}
        if weighted and memory.takeovers.person_steps:  # a person (or the stand-in) took the wheel in this run
            record.update(memory.takeovers.report())
        if isinstance(memory, DemoWeightedSampling):
            demos = memory.sampled_demos - before[0]
            total = memory.sampled_total - before[1]
            fraction = demos / total if total else 0.0
            in_memory = memory.demo_index.n_demo_samples
            raw = raw_sample_count(memory.data)
            schedule = memory.demo_schedule.describe(raw, memory.sampled_batches)
            if self.watch.tmrl_log:
                log.info(f"Player runs: demo fraction of sampled batches this epoch: {fraction:.3f} "
                         f"({schedule}; {in_memory} of {raw} samples in memory are demos)")
            for s in stats:  # in the epoch record's tmrl means (and so in TensorBoard and wandb) too
                s["demo_fraction_sampled"] = fraction
                s["demo_fraction_memory"] = in_memory / raw if raw else 0.0
            record.update(demo_fraction_sampled=fraction, demo_fraction_memory=in_memory / raw if raw else 0.0,
                          demo_samples=in_memory, memory_samples=raw, schedule=schedule)
        if isinstance(self.agent, DemoSacAgent) and stats:
            cloning = {key: _mean(stats, key) for key in ("bc_coef", "bc_rows", "q_demo", "q_other")}
            if self.watch.tmrl_log:
                log.info(f"Player runs: demo cloning this epoch: coefficient {cloning['bc_coef']:.3g}, applied to "
                         f"{100 * cloning['bc_rows']:.1f}% of batch rows; critic mean Q on demo rows "
                         f"{cloning['q_demo']:.2f}, on other rows {cloning['q_other']:.2f}")
            record.update(cloning)
        evaluated = None
        evaluator = self.evaluator()
        if evaluator is not None and evaluator.due(int(self.epoch)):
            evaluation = self.evaluate_policy(evaluator, record)
            record.update(evaluation.record())
            evaluated = _score_of(evaluation, self.player_runs.EVALUATION_SCORE)
        score = evaluated if evaluated is not None else EpochScore.of_rounds(stats)
        if self.best_policy is not None and self.best_policy.consider(stats, self.agent.get_actor(), self.counters(),
                                                                      score):
            record["best_policy"] = True
        elif self.roll_back_if_worse(score):
            assert self.best_policy is not None  # only a kept best policy is put back
            record.update(rolled_back=True, rollbacks=self.best_policy.rollbacks,
                          rolled_back_to_epoch=self.best_policy.epoch)
        elif self.best_policy is not None and self.best_policy.given_up:
            record["rollback_given_up"] = True  # below the best, and not put back (ROLLBACK_PATIENCE)
        if self.player_runs.DEMO_BC_FLOOR_RAISE is not None and isinstance(self.agent, DemoSacAgent):
            record["bc_floor"] = self.agent.bc_floor()  # where the cloning weight stops decaying, as raised so far
        full = {**self.counters(), **record, "tmrl": _numbers(stats)}
        self.statistics.write("epoch", **full)
        log.info(epoch_line(full))
        return stats

    def evaluate_policy(self, evaluator: TrainerEvaluation, record: dict[str, Any]) -> PolicyEvaluation:
        """The trainer's evaluation of the policy its workers drive. With ``POLICY_AVERAGING_CATCH_UP`` the actor
        itself drives the same episodes too and, when it beats the averaged policy (a higher score, as
        ``EVALUATION_SCORE`` says, or, at a tie, shorter episodes), the average jumps to it and the workers get it:
        the average steadies the policy against one update's damage, but it also lags what the actor has just
        learned."""
        driven = evaluator.run(self.agent.get_actor())
        agent = self.agent
        if not (self.player_runs.POLICY_AVERAGING_CATCH_UP and isinstance(agent, DemoSacAgent)
                and agent.averaged_actor is not None):
            return driven
        latest = evaluator.run(agent.model.actor)
        record.update(actor_evaluation_mean=latest.mean, actor_evaluation_steps=latest.median_length)
        actor_score = _score_of(latest, self.player_runs.EVALUATION_SCORE)
        average_score = _score_of(driven, self.player_runs.EVALUATION_SCORE)
        if not actor_score.beats(average_score):
            return driven
        agent.catch_up()
        self.broadcast_pending = True
        record["caught_up"] = True
        log.info(f"Player runs: the actor scored {actor_score.mean_return:.2f} in {actor_score.mean_steps:.0f} steps "
                 f"per episode, the averaged policy {average_score.mean_return:.2f} in {average_score.mean_steps:.0f}: "
                 "the average catches up with the actor (PLAYER_RUNS.POLICY_AVERAGING_CATCH_UP)")
        return latest

    def roll_back_if_worse(self, score: EpochScore | None) -> bool:
        """With ``ROLLBACK_TOLERANCE``: when ``score`` (this epoch's) fell that far below the best policy's (or,
        with ``ROLLBACK_LONGER_EPISODES``, tied it with episodes that much longer), the best policy is put back as
        the actor and sent to the workers at the next epoch (trainer.best), unless it was put back
        ``ROLLBACK_PATIENCE`` epochs in a row already (``BestPolicy.next_step``)."""
        tolerance = self.player_runs.ROLLBACK_TOLERANCE
        best = self.best_policy
        if tolerance is None or best is None or not best.comparable(score):
            return False  # an epoch scored another way (the workers', between evaluations) counts for nothing here
        slower = self.player_runs.ROLLBACK_LONGER_EPISODES and best.slower_than(score, tolerance)
        step = best.next_step(best.fell_from(score, tolerance) or slower, self.player_runs.ROLLBACK_PATIENCE)
        if step is None:
            return False
        assert score is not None and best.score is not None
        if step == "give up":
            log.info(f"Player runs: this epoch's policy scored {score.mean_return:.2f} ({score.kind}), below the best "
                     f"policy's {best.score.mean_return:.2f} (epoch {best.epoch}) again after {best.in_a_row} epochs "
                     "in a row that put it back: the policy learns on from here, and the best policy is put back "
                     "again after an epoch at its level or a new best (PLAYER_RUNS.ROLLBACK_PATIENCE)")
            return False
        if not slower:
            log.info(f"Player runs: this epoch's policy scored {score.mean_return:.2f} ({score.kind}), more than "
                     f"{100 * tolerance:g} % below the best policy's {best.score.mean_return:.2f} "
                     f"(epoch {best.epoch}): the best policy drives again (PLAYER_RUNS.ROLLBACK_TOLERANCE)")
        else:
            log.info(f"Player runs: this epoch's policy scored {score.mean_return:.2f} ({score.kind}) as the best "
                     f"policy did (epoch {best.epoch}), but in {score.mean_steps:.0f} steps per episode, more than "
                     f"{100 * tolerance:g} % more than its {best.score.mean_steps:.0f}: the best policy drives again "
                     f"(PLAYER_RUNS.ROLLBACK_LONGER_EPISODES)")
        best.put_back(self.agent)
        self.broadcast_pending = True
        raise_by = self.player_runs.DEMO_BC_FLOOR_RAISE
        if raise_by is not None and not slower and isinstance(self.agent, DemoSacAgent):
            floor = self.agent.raise_floor(raise_by)
            if floor is not None:
                log.info(f"Player runs: the policy fell with cloning at its floor: the floor is now {floor:.3g} "
                         "(PLAYER_RUNS.DEMO_BC_FLOOR_RAISE)")
        return True


def _score_of(evaluation: PolicyEvaluation, statistic: str) -> EpochScore:
    return EpochScore(evaluation.score(statistic), evaluation.median_length, by="evaluation", of=statistic)


def _best_policy(config: PlayerRunsConfig) -> BestPolicy | None:
    if not config.KEEP_BEST_POLICY:
        return None
    import tmrl.config.config_constants as cfg

    return BestPolicy(best_weights_path(cfg.WEIGHTS_FOLDER, run_name()))


Updater = Callable[[TorchTrainingOffline, partial], TorchTrainingOffline]  # tmrl's checkpoint updater
Dumper = Callable[[TorchTrainingOffline, str], None]  # tmrl's DUMP_RUN_INSTANCE_FN


def save_checkpoint(run_instance: TorchTrainingOffline, checkpoint_path: str, *, dump: Dumper | None) -> None:
    """tmrl's checkpoint function ``dump``, with the kept runs it now holds dropped; a failure to save is
    one error line and training goes on (the previous checkpoint stays as it was)."""
    from tmrl.networking import dump_run_instance

    try:
        (dump or dump_run_instance)(run_instance, checkpoint_path)  # None in tmrl's config: its default
    except Exception as err:  # a full disk, or something in the memory pickle cannot write
        log.error(f"Player runs: could not save the checkpoint {checkpoint_path}: {type(err).__name__}: "
                  f"{one_line(err)}; training goes on and the previous checkpoint stays")
        return
    if isinstance(run_instance, PlayerRunsTraining):
        run_instance.checkpointed()


def update_training_instance(run_instance: TorchTrainingOffline, training_cls: partial,
                             tmrl_updater: Updater | None = None) -> PlayerRunsTraining:
    """Runs tmrl's checkpoint updater, then brings a resumed instance up to the current PLAYER_RUNS config.

    A checkpoint made by a stock tmrl trainer becomes a PlayerRunsTraining with its memory, agent and
    counters (``from_stock``), its memory a demo-weighted one and, when cloning is on, its agent a
    DemoSacAgent with the same networks.
    """
    previous = run_instance
    if tmrl_updater is not None:
        run_instance = tmrl_updater(run_instance, training_cls)
    config = training_cls.keywords.get("player_runs") or PlayerRunsConfig()
    if not isinstance(run_instance, PlayerRunsTraining):
        run_instance = PlayerRunsTraining.from_stock(run_instance, config)
    if run_instance is not previous and isinstance(previous, PlayerRunsTraining):
        run_instance.injection_record = previous.injection_record  # RESET_TRAINING keeps the memory, so the record
    run_instance.player_runs = config
    run_instance.watch = training_cls.keywords.get("watch") or Watch()
    run_instance.statistics = StatisticsLog(statistics_file(config.statistics_path, run_name()))
    run_instance.attach_sinks()
    memory = run_instance.memory
    if not isinstance(memory, DemoWeightedSampling) and type(memory) in WEIGHTED_MEMORIES:
        memory = WEIGHTED_MEMORIES[type(memory)].from_memory(memory, config.schedule, config.KEEP_DEMOS)
        run_instance.memory = memory
    if isinstance(memory, DemoWeightedSampling):
        memory.demo_schedule = config.schedule
        memory.keep_demos = config.KEEP_DEMOS
    agent = run_instance.agent
    if config.uses_demo_agent and not isinstance(agent, DemoSacAgent) and isinstance(agent, SpinupSacAgent):
        agent = DemoSacAgent.from_agent(agent)  # a checkpoint of the stock agent: same networks, cloning from now on
        run_instance.agent = agent
    if isinstance(agent, DemoSacAgent):  # the coefficients may have changed in config.json
        agent.bc_coef, agent.bc_decay_steps = config.DEMO_BC_COEF, config.DEMO_BC_DECAY_STEPS
        agent.bc_coef_final = config.DEMO_BC_COEF_FINAL
        agent.bc_q_filter, agent.actor_warmup_steps = config.DEMO_BC_Q_FILTER, config.DEMO_ACTOR_WARMUP_STEPS
        agent.demo_return_bound = config.DEMO_RETURN_BOUND
        agent.bc_joint, agent.bc_action_weights = config.DEMO_BC_JOINT, config.DEMO_BC_ACTION_WEIGHTS
        agent.__dict__.setdefault("averaged_actor", None)  # a checkpoint of an earlier version
        agent.__dict__.setdefault("raised_floor", 0.0)  # ... and the floor a fall raised stays raised
        agent.policy_averaging = config.POLICY_AVERAGING
        agent.conservatism = config.CRITIC_CONSERVATISM
        agent.conservatism_decay_steps = config.CRITIC_CONSERVATISM_DECAY_STEPS
        if config.DEMO_TARGET_ENTROPY is not None:  # else the checkpoint's (ALG.TARGET_ENTROPY when it was made)
            agent.target_entropy = float(config.DEMO_TARGET_ENTROPY)
    if isinstance(memory, DemoWeightedSampling):
        memory.return_gamma = float(agent.gamma) if config.DEMO_RETURN_BOUND and isinstance(agent, DemoSacAgent) \
            else None
    if not config.KEEP_BEST_POLICY:
        run_instance.best_policy = None
    elif run_instance.best_policy is None:
        run_instance.best_policy = _best_policy(config)
    run_instance.note_memory_runs()
    run_instance.connect_agent()
    run_instance.log_memory("resume")
    _say_if_dataset_is_newer(run_instance._tmrl_setup().dataset_path / DATASET_FILE)
    return run_instance


def _say_if_dataset_is_newer(dataset: Path) -> None:
    """A resumed trainer has its memory from the checkpoint: runs imported into data.pkl since are not in it."""
    import tmrl.config.config_constants as cfg

    try:
        newer = dataset.stat().st_mtime > Path(cfg.CHECKPOINT_PATH).stat().st_mtime
    except OSError:
        return
    if newer:
        log.warning(f"Player runs: {dataset} changed after the checkpoint this trainer resumes from: a resumed "
                    "trainer does not read it, so runs imported since are not in its memory (give them to it "
                    "through PLAYER_RUNS.SOURCE_PATH or --send-player-runs)")


def _numbers(stats: list[Any]) -> dict[str, float]:
    """The mean over an epoch's rounds of each number tmrl reports (return_train, loss_critic, ...)."""
    keys = sorted({k for s in stats for k, v in s.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return {k: _mean(stats, k) for k in keys}


def _mean(stats: list[Any], key: str) -> float:
    """Mean of one statistic over tmrl's per-round (or per-step) dicts, skipping the missing and NaN."""
    values = [float(s[key]) for s in stats if key in s and not math.isnan(float(s[key]))]
    return sum(values) / len(values) if values else math.nan
