"""Player runs shipped to the trainer through tmrl's own server (tlspyo), with no shared folder.

``wire`` defines the messages, ``link`` reaches the server named in config.json, ``sender`` ships run
files and waits for the trainer's receipts. The trainer's side is ``playerruns.trainer.receiving``.
"""

__all__ = ["wire", "link", "sender"]
