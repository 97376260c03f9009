"""``python -m audit.commands ...``: the ``zhongli audit`` commands without the rest of the CLI."""

import sys

from audit.commands.parser import main

sys.exit(main())
