"""``python -m deploy.tooling.synth``: the same as ``zhongli synth``."""

from deploy.tooling.synth.command import main

raise SystemExit(main())
