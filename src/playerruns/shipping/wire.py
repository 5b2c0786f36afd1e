"""What travels through tmrl's server between senders and the trainer.

tmrl's server (a tlspyo relay) accepts two groups: ``trainers`` (one trainer) and ``workers``. A
sender joins ``workers``, as a rollout worker does, and sends its messages as *consumables* to
``trainers``, as a worker sends its samples:

- a **shipment** carries run files (their exact bytes, as on disk) and asks about run ids. It is
  pickled as a tmrl ``Buffer`` with no samples and one extra attribute, ``playerruns_shipment``:
  the playerruns trainer sets it apart from worker samples, and a stock tmrl trainer merges an empty
  buffer (it takes nothing in; the sender then says no playerruns trainer answered). The envelope is
  written here without importing tmrl, so a sender starts in a second on a machine that only has
  the run files.
- **receipts** answer each shipment: the trainer sends one plain dict as a consumable to
  ``workers``. Stock workers only ever read broadcasts (the model weights) and never ask for
  consumables, so they never see receipts; only senders do. Receipts are not addressed: whichever
  sender asks next gets the next one, so each receipt lists the status of every run id asked about
  recently, and a sender asks again until it has read its own runs' statuses.
- an **echo** is a dict a sender sends to ``workers`` and reads back: it proves the server let the
  sender in (right password and TLS settings, a free worker slot) even when no trainer answers.

Every field is plain Python data; the sender unpickles what it receives with the restricted
unpickler of run files, and the trainer validates each run's bytes exactly as a file from disk.
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass, field
from typing import Any

from playerruns.runs.errors import PlayerRunsError, one_line

WIRE_VERSION = 1
SHIPMENT_ATTR = "playerruns_shipment"
RECEIPTS_KEY = "playerruns_receipts"
ECHO_KEY = "playerruns_echo"

# a run's status in receipts
TAKEN = "taken"  # injected into the replay memory by this message (or an earlier copy of it)
ALREADY = "already"  # this training had taken the run in before: not injected again
REFUSED = "refused"  # not injected; the detail says why (validation, injection off...)
UNKNOWN = "unknown"  # the trainer never got the run's bytes (lost with a restarted server): send again

DELIVERED = (TAKEN, ALREADY)

# tmrl.networking.Buffer's fields, as an empty Buffer has them
_EMPTY_BUFFER_STATE = {"memory": [], "stat_train_return": 0.0, "stat_test_return": 0.0,
                       "stat_train_steps": 0, "stat_test_steps": 0, "maxlen": 0}
# pickle opcodes: protocol 3, GLOBAL tmrl.networking.Buffer, EMPTY_TUPLE, NEWOBJ ... BUILD, STOP
_BUFFER_HEAD = b"\x80\x03ctmrl.networking\nBuffer\n)\x81"
_BUFFER_TAIL = b"b."


class WireError(PlayerRunsError):
    """A message claims to be from playerruns but is not well formed."""


@dataclass
class ShippedRun:
    """One run file in transit: its run id, file name and exact bytes."""

    run_id: str
    name: str
    data: bytes


@dataclass
class Shipment:
    """Runs from one sender, and the run ids whose status it wants in the receipt."""

    sender: str  # host name, shown in the trainer's log lines
    sender_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    runs: list[ShippedRun] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"version": WIRE_VERSION, "sender": self.sender, "sender_id": self.sender_id,
                "runs": [{"run_id": r.run_id, "name": r.name, "data": r.data} for r in self.runs],
                "ask": list(self.ask)}


def shipment_bytes(shipment: Shipment) -> bytes:
    """``shipment`` pickled as an empty tmrl ``Buffer`` carrying it (see the module docstring)."""
    state = {**_EMPTY_BUFFER_STATE, SHIPMENT_ATTR: shipment.to_dict()}
    body = pickle.dumps(state, protocol=3)
    return _BUFFER_HEAD + body[2:-1] + _BUFFER_TAIL  # the dict's opcodes, without its PROTO and STOP


def read_shipment(message: Any) -> Shipment | None:
    """The shipment a received object carries, or None for anything else (a worker's samples).

    Raises WireError for an object that carries a shipment attribute of the wrong shape.
    """
    content = getattr(message, SHIPMENT_ATTR, None)
    if content is None:
        return None
    if not isinstance(content, dict) or content.get("version") != WIRE_VERSION:
        raise WireError(f"a shipment of an unknown version: {_version(content)} (this trainer reads "
                        f"version {WIRE_VERSION}; update playerruns on both machines)")
    try:
        runs = [ShippedRun(str(r["run_id"]), str(r["name"]), r["data"]) for r in content["runs"]]
        shipment = Shipment(sender=str(content["sender"]), sender_id=str(content["sender_id"]), runs=runs,
                            ask=[str(a) for a in content["ask"]])
    except (KeyError, TypeError, ValueError, AttributeError) as err:  # anything a hostile peer shapes
        raise WireError(f"a malformed shipment ({type(err).__name__}: {one_line(err)})") from None
    if not all(isinstance(r.data, bytes) for r in runs):
        raise WireError("a malformed shipment: a run's data is not bytes")
    return shipment


@dataclass(frozen=True)
class Status:
    """What the trainer says about one run id: TAKEN (with the sender whose shipment it injected),
    ALREADY, REFUSED or UNKNOWN, and a few words (the refusal's reason, the samples taken in)."""

    status: str
    detail: str
    taken_from: str = ""  # sender_id of the shipment that was injected, for TAKEN

    def for_sender(self, sender_id: str) -> Status:
        """As one sender should read it: a run taken in from another sender's shipment was ALREADY there."""
        if self.status == TAKEN and self.taken_from != sender_id:
            return Status(ALREADY, "already taken in by this training")
        return self


def receipts_message(trainer: str, statuses: dict[str, Status]) -> dict[str, Any]:
    """Receipts: the status of each run id, from the trainer on host ``trainer``."""
    return {RECEIPTS_KEY: WIRE_VERSION, "trainer": trainer,
            "statuses": {run_id: [s.status, s.detail, s.taken_from] for run_id, s in statuses.items()}}


@dataclass
class Receipts:
    trainer: str
    statuses: dict[str, Status]


def read_receipts(message: Any) -> Receipts | None:
    """The receipts a received object carries, or None for anything else (model weights, echoes)."""
    if not isinstance(message, dict) or message.get(RECEIPTS_KEY) != WIRE_VERSION:
        return None
    statuses = message.get("statuses")
    if not isinstance(statuses, dict):
        return None
    parsed = {str(k): Status(str(v[0]), str(v[1]), str(v[2])) for k, v in statuses.items()
              if isinstance(v, (list, tuple)) and len(v) == 3}
    return Receipts(trainer=str(message.get("trainer", "?")), statuses=parsed)


def echo_message(token: str) -> dict[str, str]:
    return {ECHO_KEY: token}


def is_echo(message: Any) -> bool:
    return isinstance(message, dict) and ECHO_KEY in message


def _version(content: Any) -> str:
    version = content.get("version") if isinstance(content, dict) else None
    return repr(version) if isinstance(version, (int, str)) else f"a {type(content).__name__}"
