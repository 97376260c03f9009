"""``python -m deploy.report``: the ``zhongli report`` command on its own."""

from deploy.report.command import main

if __name__ == "__main__":
    raise SystemExit(main())
