import sys

from playerruns.cli import main

sys.exit(main())
