"""Where playerruns meets tmrl's configuration and replay data, outside the trainer:

``setup`` turns the current config.json into plain pieces (``TmrlSetup``) and makes TmrlData;
``demo_path`` is the one path from a run file to the samples a memory appends (import, injection and
shipped runs alike); ``dataset`` imports run files into ``data.pkl``; ``seeding`` seeds a process.
tmrl is imported inside functions only, so importing this package never reads ``~/TmrlData``.
"""

__all__ = ["setup", "demo_path", "dataset", "seeding"]
