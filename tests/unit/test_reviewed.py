"""The auditor tool's memory of what it displayed (audit/reviewed.py)."""

from __future__ import annotations

import stat
from pathlib import Path

from audit.reviewed import ReviewLog


def test_a_review_log_remembers_exactly_what_was_shown_and_is_private(tmp_path: Path) -> None:
    log = ReviewLog(tmp_path / "me" / "reviewed.log")
    assert not log.has("rel-1", "ab" * 32)  # nothing shown yet, no file
    log.add("rel-1", "AB" * 32)
    log.add("rel-1", "ab" * 32)  # once
    assert log.has("rel-1", "ab" * 32)
    assert not log.has("rel-2", "ab" * 32) and not log.has("rel-1", "cd" * 32)
    log.add("rel-2\nrel-3", "cd" * 32)  # not a release id: nothing written
    assert log.path.read_text().splitlines() == [f"rel-1 {'ab' * 32}"]
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
