"""``zhongli job run``: reading ``--params`` and the exit status of ``--wait``.

``--params`` takes the job's parameters as inline JSON, as ``@FILE`` (a sealed model is about
200 KB, more than a command line holds) or as ``@-`` (standard input). Every mistake is one line
naming the option and where the JSON breaks, never a traceback.

With ``--wait`` the command ends when the job is computed, and its exit status says how it went,
so a script can tell a refusal from a release waiting for the auditors (:data:`EXIT_CODES`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from protocols.errors import ZhongliError

# Release status after `--wait` -> exit status. 1 stays "the command itself failed" (`zhongli: ...`)
# and 2 argparse's usage errors, so a job's outcome never reads like a broken command.
EXIT_APPROVED = 0
EXIT_FAILED = 3
EXIT_REFUSED = 4
EXIT_AWAITING_APPROVAL = 5
EXIT_EXPIRED = 6
EXIT_CODES: dict[str, int] = {
    "approved": EXIT_APPROVED,
    "failed": EXIT_FAILED,
    "refused": EXIT_REFUSED,
    "rejected": EXIT_REFUSED,  # an auditor refused it: it will not be released either
    "pending": EXIT_AWAITING_APPROVAL,
    "expired": EXIT_EXPIRED,
}
OUTCOME: dict[str, str] = {
    "approved": "approved: fetch it with `zhongli release fetch`",
    "failed": "failed",
    "refused": "refused by the gate's checks",
    "rejected": "rejected by an auditor",
    "pending": "computed, awaiting the auditors' approval (`zhongli audit approve`)",
    "expired": "expired with its session",
}

EPILOG = f"""\
--params takes inline JSON, @FILE (a JSON file, e.g. a sealed model) or @- (standard input).

exit status with --wait (without it: 0 once the request is accepted):
  {EXIT_APPROVED}  the release is already approved
  1  the command failed (the message says why; e.g. an unknown job or parameter)
  2  usage error
  {EXIT_FAILED}  the job failed
  {EXIT_REFUSED}  the release was refused by the gate's checks, or rejected by an auditor
  {EXIT_AWAITING_APPROVAL}  the release is computed and awaits the auditors' approval
  {EXIT_EXPIRED}  the release expired with its session
"""


def read_params(text: str) -> dict[str, Any]:
    """The job parameters ``--params`` names: inline JSON, ``@FILE`` or ``@-`` (stdin).

    Raises:
        ZhongliError: a missing or unreadable file, JSON that does not parse (with its line and
            column), or JSON that is not an object.
    """
    source = text
    if text.startswith("@"):
        name = text[1:]
        if not name:
            raise ZhongliError(
                "--params: give a file after '@' (e.g. --params @params.json, or @- for stdin)"
            )
        if name == "-":
            source = sys.stdin.read()
        else:
            path = Path(name)
            try:
                source = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise ZhongliError(f"--params: file '{name}' does not exist") from None
            except IsADirectoryError:
                raise ZhongliError(f"--params: '{name}' is a directory, not a JSON file") from None
            except PermissionError:
                raise ZhongliError(f"--params: file '{name}' cannot be read (permission denied)") from None
            except UnicodeDecodeError:
                raise ZhongliError(f"--params: file '{name}' is not UTF-8 text") from None
    try:
        params = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ZhongliError(
            f"--params: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(params, dict):
        raise ZhongliError(
            f"--params: the job's parameters must be a JSON object ({{...}}), not {_json_kind(params)}"
        )
    return params


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    return "null" if value is None else "a number"


def exit_code(status: str) -> int:
    """The exit status of ``job run --wait`` for a computed release's status."""
    return EXIT_CODES.get(status, 1)


def outcome_line(release_id: str, status: str) -> str:
    """One line for stderr saying how the job went and which exit status that is."""
    return f"release {release_id}: {OUTCOME.get(status, status)} (exit {exit_code(status)})"
