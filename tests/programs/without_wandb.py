"""``python -m playerruns ARGS`` on a machine where wandb is not installed: its import fails, as it would."""

import sys
from importlib.abc import MetaPathFinder


class NoWandb(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "wandb" or name.startswith("wandb."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoWandb())

from playerruns.cli import main  # noqa: E402  # after the finder: nothing may import wandb before it

sys.exit(main(sys.argv[1:]))
