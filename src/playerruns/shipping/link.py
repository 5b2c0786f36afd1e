"""Reaching tmrl's server as a rollout worker does: its address, password and TLS settings come
from the ``config.json`` of this machine, read without importing tmrl (a sender starts in a second).

The endpoint is tlspyo's, exactly as tmrl's workers use it, joined to the ``workers`` group. It differs
from a worker's in three ways: a free local port of its own (several senders may run on one machine),
quick reconnection (a restarted server is found again within seconds), and the restricted unpickler
of run files for whatever the server forwards (a sender never runs code it receives).
"""

from __future__ import annotations

import json
import logging
import pickle
import socket
import threading
from dataclasses import dataclass
from typing import Any

from playerruns.bridge.setup import check_tmrl_data
from playerruns.runs.errors import ConfigError, RunFileError
from playerruns.runs.safe_pickle import safe_loads
from playerruns.shipping.wire import Shipment, shipment_bytes

WORKERS = "workers"
TRAINERS = "trainers"


@dataclass(frozen=True)
class ServerLink:
    """Where tmrl's server is and how to talk to it, as tmrl's config.json tells a worker."""

    ip: str
    port: int
    password: str
    tls: bool
    tls_hostname: str
    keys_dir: str | None
    header_size: int
    max_buf_len: int

    @property
    def where(self) -> str:
        return f"{self.ip}:{self.port}"

    @classmethod
    def from_config(cls) -> ServerLink:
        """The server a rollout worker on this machine would reach (tmrl 0.7.1's rules)."""
        config_file = check_tmrl_data()
        config = json.loads(config_file.read_text(encoding="utf-8"))
        try:
            ip = "127.0.0.1" if config["LOCALHOST_WORKER"] else str(config["PUBLIC_IP_SERVER"])
            keys_dir = config.get("TLS_CREDENTIALS_DIRECTORY") or None
            return cls(ip=ip, port=int(config["PORT"]), password=str(config["PASSWORD"]), tls=bool(config["TLS"]),
                       tls_hostname=str(config.get("TLS_HOSTNAME", "default")), keys_dir=keys_dir,
                       header_size=int(config.get("HEADER_SIZE", 12)),
                       max_buf_len=int(config.get("BUFFER_SIZE", 536870912)))
        except KeyError as err:
            raise ConfigError(f"{config_file}: missing key {err}, which a worker needs to reach the server") from None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{config_file}: unusable server settings ({err})") from None


def serialize(obj: Any) -> bytes:
    """tlspyo's serializer for a sender: shipments as tmrl Buffers (see ``wire``), the rest pickled."""
    if isinstance(obj, Shipment):
        return shipment_bytes(obj)
    return pickle.dumps(obj, protocol=4)


class Unreadable:
    """What a sender sees in place of a message it refused to unpickle."""


def deserialize(data: bytes) -> Any:
    """tlspyo's deserializer for a sender: the restricted unpickler; a refused message is ``Unreadable``."""
    try:
        return safe_loads(data, source="a message from the tmrl server")
    except RunFileError:
        return Unreadable()


def free_local_ports(n: int) -> list[int]:
    """n TCP ports free on 127.0.0.1 right now (each tlspyo endpoint needs a local port of its own)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def open_endpoint(link: ServerLink) -> Any:
    """A tlspyo endpoint in the ``workers`` group of the server at ``link`` (it connects in the background)."""
    from tlspyo import Endpoint

    logging.getLogger("tlspyo").setLevel(logging.ERROR)  # its connection chatter is not the user's business

    last: OSError | None = None
    for _ in range(5):  # another process may take the free port between the probe and the bind
        try:
            return Endpoint(ip_server=link.ip, port=link.port, password=link.password, groups=WORKERS,
                            local_com_port=free_local_ports(1)[0], header_size=link.header_size,
                            max_buf_len=link.max_buf_len, security="TLS" if link.tls else None,
                            keys_dir=link.keys_dir, hostname=link.tls_hostname, serializer=serialize,
                            deserializer=deserialize, recon_max_delay=5.0, recon_initial_delay=0.5,
                            recon_factor=1.5, recon_jitter=0.1)
        except OSError as err:
            last = err
    raise ConfigError(f"could not open a local port for the connection to the tmrl server: {last}")


def close_endpoint(endpoint: Any, timeout: float = 3.0) -> None:
    """Stops a tlspyo endpoint; if it still waits for a server's acknowledgements after ``timeout``
    seconds (the server is gone), its connection process is ended instead of waiting tlspyo's 10 s."""
    stopper = threading.Thread(target=endpoint.stop, daemon=True)
    stopper.start()
    stopper.join(timeout)
    if stopper.is_alive():
        process = endpoint._p  # tlspyo's connection process (no public handle)
        process.terminate()
        process.join(2.0)
        stopper.join(2.0)


def server_reachable(link: ServerLink, timeout: float = 2.0) -> bool:
    """True when something accepts TCP connections at the server's address and port."""
    try:
        with socket.create_connection((link.ip, link.port), timeout=timeout):
            return True
    except OSError:
        return False
