"""Reading an ``strace -f -yy -o FILE`` output file into calls: each line's pid, system call,
arguments (split at top-level commas, quotes, brackets and ``<decorations>`` respected) and
return value, with the ``<unfinished ...>`` / ``<... resumed>`` halves of interrupted calls joined.
:mod:`deploy.tooling.trace` judges the calls against the zone's no-disk promise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>[a-z0-9_]+)\((?P<args>.*)\)\s+=\s+(?P<ret>.*)$")
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. (?P<name>[a-z0-9_]+) resumed>(?P<tail>.*)$")
# strace 6 puts "(deleted)" after the decoration of an fd whose file was unlinked.
_FD = re.compile(r"^(?P<num>-?\d+|AT_FDCWD)(?:<(?P<what>.*)>)?(?:\(deleted\))?$")


@dataclass
class Call:
    pid: int
    name: str
    args: list[str]
    ret: str

    @property
    def ok(self) -> bool:
        return not self.ret.startswith("-1") and not self.ret.startswith("?")

    def line(self) -> str:
        return f"{self.pid} {self.name}({', '.join(self.args)}) = {self.ret}"


@dataclass
class Trace:
    calls: list[Call] = field(default_factory=list)
    exits: dict[int, str] = field(default_factory=dict)  # pid -> "+++ exited with 0 +++" etc.
    signals: list[tuple[int, str]] = field(default_factory=list)


def split_args(s: str) -> list[str]:
    """Top-level comma split of strace's argument text (quotes, brackets and <decorations> aware)."""
    out, cur, depth, quote, i = [], [], 0, False, 0
    while i < len(s):
        c = s[i]
        if quote:
            cur.append(c)
            if c == "\\" and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif c == '"':
                quote = False
        elif c == '"':
            quote = True
            cur.append(c)
        elif c in "([{<":
            depth += 1
            cur.append(c)
        elif c in ")]}>" and not (c == ">" and cur and cur[-1] == "-"):  # "->" in a socket's address pair
            depth -= 1
            cur.append(c)
        elif c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    if cur or out:
        out.append("".join(cur).strip())
    return out


def parse(path: Path | str) -> Trace:
    """Read an ``strace -f -yy -o`` file, joining ``<unfinished ...>`` / ``<... resumed>`` halves."""
    trace = Trace()
    pending: dict[int, str] = {}
    for raw in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, rest = int(m["pid"]), m["rest"]
        if rest.startswith("+++"):
            trace.exits[pid] = rest
            continue
        if rest.startswith("---"):
            trace.signals.append((pid, rest))
            continue
        if rest.endswith(_UNFINISHED):
            pending[pid] = rest[: -len(_UNFINISHED)]
            continue
        r = _RESUMED.match(rest)
        if r:
            head = pending.pop(pid, None)
            if head is None:
                continue
            rest = head + r["tail"]
        c = _CALL.match(rest)
        if c:
            trace.calls.append(Call(pid, c["name"], split_args(c["args"]), c["ret"].strip()))
    return trace


def fd_of(arg: str) -> tuple[str, str]:
    """``'7<pipe:[123]>'`` -> ``('7', 'pipe:[123]')``; undecorated -> (arg, '')."""
    m = _FD.match(arg)
    return (m["num"], m["what"] or "") if m else (arg, "")


def unquote(arg: str) -> str:
    if arg.startswith('"'):
        end = arg.rfind('"')
        return arg[1:end].encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    return arg
