"""``python -m playerruns ARGS`` (argv[1:]) run in this process with SDL's virtual pad plugged in
(``tests.virtual_pad``): the left stick 0.5 right, the right trigger fully pressed, and, with PAD_END_HELD=1 in
the environment, the pad's end button (6) held."""

import os
import sys

from tests.virtual_pad import RIGHT_TRIGGER, VirtualPad

from playerruns.cli import main

pad = VirtualPad()
pad.stick(0.5)
pad.trigger(RIGHT_TRIGGER, 1.0)
if os.environ.get("PAD_END_HELD") == "1":
    pad.press(6)
sys.exit(main(sys.argv[1:]))
