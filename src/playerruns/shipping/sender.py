"""Shipping run files to the trainer and reporting only what the trainer confirmed.

A ``RunSender`` sends each run file's bytes once, then asks the trainer for receipts (one question
in flight at a time) until every run is settled:

- **delivered**: the trainer took the run into its replay memory now, or had taken it before (sending
  the same run twice injects it once). Only then is the local file renamed ``<name>.sent``;
- **refused**: the trainer read the run and would not inject it; its reason is shown, the file kept;
- otherwise, when the time is up, the file is kept and ``diagnose`` says what was missing: the
  server, the way in (password, TLS, a worker slot), or a playerruns trainer.

A run the trainer reports as unknown (its bytes were lost, e.g. with a restarted server) is sent
again. Receipts are not addressed to one sender (see ``wire``), so whichever receipts arrive are read
for every run this sender waits for.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playerruns.runs.atomic_io import free_name
from playerruns.runs.runfile import loads_run
from playerruns.runs.safe_pickle import read_file
from playerruns.shipping import wire
from playerruns.shipping.link import TRAINERS, WORKERS, ServerLink, close_endpoint, open_endpoint, server_reachable

SENT_SUFFIX = ".sent"
ASK_EVERY = 1.0  # seconds between questions while one is answered
ASK_AGAIN_AFTER = 10.0  # a question unanswered this long is presumed lost (a restarted server)
RESEND_AFTER = 2.0  # a run reported unknown is sent again at most this often
REPORT_EVERY = 15.0  # seconds between "still waiting" lines


@dataclass
class Outgoing:
    """One run file on its way: what the trainer said about it so far."""

    path: Path
    run_id: str
    data: bytes
    sent_at: float | None = None
    resend: bool = False
    status: str | None = None  # TAKEN, ALREADY or REFUSED (see wire) once settled
    detail: str = ""
    trainer: str = ""
    kept_as: Path | None = None  # the file's name after settling

    @property
    def delivered(self) -> bool:
        return self.status in wire.DELIVERED


def read_outgoing(path: Path) -> Outgoing:
    """Reads a run file to send; raises RunFileError for one that is not a readable run file."""
    data = read_file(path)
    run = loads_run(data, path)
    return Outgoing(path=path, run_id=run.run_id, data=data)


class RunSender:
    """Sends run files through tmrl's server to the trainer and waits for its receipts."""

    def __init__(self, link: ServerLink, *, say: Callable[[str], None] = print, host: str | None = None) -> None:
        self.link = link
        self.say = say
        self.host = host or socket.gethostname()
        self.sender_id = uuid.uuid4().hex
        self.runs: list[Outgoing] = []
        self.relay_answered = False  # the server let us in (our echo, receipts or model weights came back)
        self.trainer: str | None = None  # host of the trainer that sent receipts
        self._endpoint: Any = None
        self._in_flight = 0  # messages sent whose answer has not come back
        self._last_question = -1e9
        self._lock = threading.RLock()
        self._pumping: threading.Thread | None = None
        self._closed = threading.Event()

    # -- what callers use
    def add(self, path: str | Path) -> Outgoing:
        """Queues a run file (read now; raises RunFileError for an unreadable one)."""
        outgoing = read_outgoing(Path(path))
        with self._lock:
            self.runs.append(outgoing)
        return outgoing

    @property
    def waiting(self) -> list[Outgoing]:
        with self._lock:
            return [o for o in self.runs if o.status is None]

    def wait(self, timeout: float) -> bool:
        """Pumps (or lets the background pump work) until every run is settled or ``timeout`` seconds
        passed; says which runs are still waiting every REPORT_EVERY seconds. True when all settled."""
        started = time.monotonic()
        next_report = started + REPORT_EVERY
        while self.waiting:
            now = time.monotonic()
            if now - started >= timeout:
                return False
            if now >= next_report:
                self.say(f"Waiting for the trainer: {len(self.waiting)} run(s) not confirmed after "
                         f"{now - started:.0f} s ({self.diagnose(probe=False)})")
                next_report = now + REPORT_EVERY
            if self._pumping is None:
                self.pump()
            time.sleep(0.05)
        return True

    def start_background(self) -> RunSender:
        """Pumps in a thread from now on (while a recording goes on)."""
        def loop() -> None:
            while not self._closed.wait(0.1):
                self.pump()

        self._pumping = threading.Thread(target=loop, name="playerruns-sender", daemon=True)
        self._pumping.start()
        return self

    def close(self) -> None:
        self._closed.set()
        if self._pumping is not None:
            self._pumping.join(5.0)
        with self._lock:
            if self._endpoint is not None:
                close_endpoint(self._endpoint)
                self._endpoint = None

    def diagnose(self, probe: bool = True) -> str:
        """Why runs are not confirmed yet, in one sentence."""
        if not self.relay_answered:
            if probe and not server_reachable(self.link):
                return (f"no tmrl server at {self.link.where} (start one with `python -m playerruns --server`; "
                        "this machine's config.json names it: PUBLIC_IP_SERVER, PORT, LOCALHOST_WORKER)")
            return (f"the server at {self.link.where} did not let this sender in: PASSWORD or TLS settings "
                    "(TLS, TLS_HOSTNAME, TLS_CREDENTIALS_DIRECTORY) differ from the server's config.json, or all its "
                    "NB_WORKERS worker slots are taken")
        if self.trainer is None:
            return (f"no playerruns trainer answered through the server at {self.link.where} (start one with "
                    "`python -m playerruns --trainer`; a stock tmrl trainer does not take player runs)")
        return (f"the trainer on {self.trainer} has not confirmed it yet (it answers at its buffer updates; a longer "
                "--send-timeout gives it more time); it may still take the run, and sending it again never "
                "injects it twice")

    # -- the exchange
    def pump(self) -> list[Outgoing]:
        """One round: reads what came back, sends what is due. Returns the runs settled now."""
        with self._lock:
            now = time.monotonic()
            if self._endpoint is None:
                self._endpoint = open_endpoint(self.link)
                self._send(wire.echo_message(self.sender_id), WORKERS)
            settled = self._read_answers(now)
            waiting = [o for o in self.runs if o.status is None]
            for outgoing in waiting:
                if outgoing.sent_at is None or (outgoing.resend and now - outgoing.sent_at >= RESEND_AFTER):
                    self._send(wire.Shipment(sender=self.host, sender_id=self.sender_id,
                                        runs=[wire.ShippedRun(outgoing.run_id, outgoing.path.name, outgoing.data)],
                                        ask=[outgoing.run_id]), TRAINERS)
                    outgoing.sent_at, outgoing.resend = now, False
                    self._last_question = now
            quiet = now - self._last_question
            if waiting and ((self._in_flight == 0 and quiet >= ASK_EVERY) or quiet >= ASK_AGAIN_AFTER):
                self._send(wire.Shipment(sender=self.host, sender_id=self.sender_id,
                                    ask=[o.run_id for o in waiting]), TRAINERS)
                self._last_question = now
            return settled

    def _send(self, message: Any, group: str) -> None:
        """Sends one message as a consumable and asks the server for one consumable back."""
        self._endpoint.produce(message, group)
        self._endpoint.notify(groups={WORKERS: 1})
        self._in_flight += 1

    def _read_answers(self, now: float) -> list[Outgoing]:
        settled: list[Outgoing] = []
        for message in self._endpoint.receive_all(blocking=False):
            if isinstance(message, bytes):  # the model weights the trainer broadcasts to workers
                self.relay_answered = True
                continue
            receipts = wire.read_receipts(message)
            if receipts is None and not wire.is_echo(message):
                continue
            self.relay_answered = True
            self._in_flight = max(0, self._in_flight - 1)
            if receipts is None:
                continue
            self.trainer = receipts.trainer
            for outgoing in self.runs:
                answer = receipts.statuses.get(outgoing.run_id)
                if outgoing.status is not None or answer is None:
                    continue
                seen = answer.for_sender(self.sender_id)
                status, detail = seen.status, seen.detail
                if status == wire.UNKNOWN:
                    outgoing.resend = True
                elif status in wire.DELIVERED or status == wire.REFUSED:
                    outgoing.status, outgoing.detail, outgoing.trainer = status, detail, receipts.trainer
                    self._settle(outgoing)
                    settled.append(outgoing)
        return settled

    def _settle(self, outgoing: Outgoing) -> None:
        name = outgoing.path.name
        if outgoing.status == wire.REFUSED:
            outgoing.kept_as = outgoing.path
            self.say(f"Not sent {name} (run {outgoing.run_id}): the trainer on {outgoing.trainer} refused it: "
                     f"{outgoing.detail}. The file is kept.")
            return
        if name.endswith(SENT_SUFFIX):  # delivered before and sent again: it keeps its name
            outgoing.kept_as = outgoing.path
            what = "already had it (not injected again)" if outgoing.status == wire.ALREADY else outgoing.detail
            self.say(f"Sent {name} (run {outgoing.run_id}): the trainer on {outgoing.trainer} {what}")
            return
        target = free_name(outgoing.path.with_name(name + SENT_SUFFIX))
        try:
            os.replace(outgoing.path, target)
            outgoing.kept_as = target
            renamed = f"renamed {target.name}"
        except OSError as err:
            renamed = f"could not rename it ({err.strerror or err})"
        what = "already had it (not injected again)" if outgoing.status == wire.ALREADY else outgoing.detail
        self.say(f"Sent {name} (run {outgoing.run_id}): the trainer on {outgoing.trainer} {what}; {renamed}")


def send_runs(paths: list[Path], link: ServerLink, *, timeout: float, say: Callable[[str], None] = print) -> int:
    """``--send-player-runs``: ships ``paths`` and waits; 0 when every run was delivered, else 1."""
    sender = RunSender(link, say=say)
    try:
        for path in paths:  # every file is read before anything is sent: a bad one stops all, nothing sent
            sender.add(path)
        say(f"Sending {len(paths)} run file(s) to the trainer through the tmrl server at {link.where} "
            f"(waiting up to {timeout:g} s for its receipts)")
        sender.wait(timeout)
        return report(sender, say)
    finally:
        sender.close()


def report(sender: RunSender, say: Callable[[str], None]) -> int:
    """Says what happened to every run; 0 when all were delivered, else 1."""
    waiting = sender.waiting
    if waiting:
        reason = sender.diagnose()
        for outgoing in waiting:
            say(f"Not sent {outgoing.path.name} (run {outgoing.run_id}): {reason}. The file is kept.")
    delivered = sum(o.delivered for o in sender.runs)
    say(f"Delivered {delivered} of {len(sender.runs)} run file(s)"
        + (f" to the trainer on {sender.trainer}" if sender.trainer else ""))
    return 0 if delivered == len(sender.runs) else 1
