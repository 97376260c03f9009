"""What an auditor's own tool has shown: the digests it recomputed from content it displayed.

``zhongli audit show`` appends each release's recomputed digest to a file on the auditor's own
machine (0600). When the audit service later shows no content for a release (it keeps summaries
in memory only, and restarted since), ``approve``/``reject`` sign only a digest this file holds
for that release: the auditor's word that it reviewed that very content, not the service's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV = "ZHONGLI_REVIEW_LOG"
_LINE = re.compile(r"^([A-Za-z0-9_-]{1,64}) ([0-9a-f]{64})$")


def default_path() -> Path:
    """``$ZHONGLI_REVIEW_LOG``, else ``~/.zhongli/reviewed.log``."""
    return Path(os.environ.get(ENV) or Path.home() / ".zhongli" / "reviewed.log")


class ReviewLog:
    """Append-only lines ``release_id digest`` in one private file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    def add(self, release_id: str, digest_hex: str) -> None:
        line = f"{release_id} {digest_hex.lower()}"
        if not _LINE.match(line) or self.has(release_id, digest_hex):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="ascii") as f:
            f.write(line + "\n")

    def has(self, release_id: str, digest_hex: str) -> bool:
        try:
            lines = self.path.read_text(encoding="ascii", errors="replace").splitlines()
        except OSError:
            return False
        return f"{release_id} {digest_hex.lower()}" in lines
