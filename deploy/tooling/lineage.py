"""Which process made each call of an ``strace -f`` trace: the zone itself, or one of the Ray
processes its own node started.

With ``executor: ray`` and no ``ray_address`` the zone starts its cluster's one node as its child
(``python -m neutral_zone.cluster.node``, which becomes ``ray start``: GCS, raylet, the agents and
every worker descend from it), so ``strace -f`` on the zone follows all of them. They do not all
live under one rule: the zone process writes nothing at all, while Ray's own processes may write
beneath their tmpfs temp root and ``/dev/shm`` (the object store) — Landlock confines them there
(neutral_zone/cluster/node.py). :func:`lineage` labels every traced thread with its *domain*, from
the process tree the trace records (``clone``/``clone3``/``fork``/``vfork`` return the new id,
``execve`` names the program):

* ``zone``: the traced command's process and its threads (after the command's own ``execve``);
* ``ray``: anything that descends from an ``execve`` of the node launcher (``-m
  neutral_zone.cluster.node``), through any number of further forks and execs;
* ``other``: any other program the zone would start (it starts none; such a process gets the
  zone's rule).

A domain is a property of a thread *at a point of the trace*: a forked child belongs to its
parent's domain until it calls ``execve``. :func:`deploy.tooling.trace.check` takes a folder list
per domain (``writable``) and judges each call by its thread's domain at that call.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise

from deploy.tooling.strace import Call, Trace, unquote

# System calls that make a thread or a process (returning its id), or replace its program.
FORKS = ("clone", "clone3", "fork", "vfork")
EXECS = ("execve", "execveat")
GUARD = ("landlock_restrict_self",)
# The Ray node launcher, as the zone starts it (neutral_zone/cluster/runtime.start_own_node).
NODE_MODULE = "neutral_zone.cluster.node"
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class Exec:
    """A successful ``execve``: which thread, at which call of the trace, what program."""

    pid: int
    index: int
    program: str
    argv: tuple[str, ...]
    domain: str = ""


@dataclass
class Lineage:
    """The process tree of a trace and the domain of every call (``domains[i]`` for ``calls[i]``)."""

    domains: list[str]
    execs: list[Exec]
    tgid: dict[int, int]  # thread id -> the id of its process (thread-group leader)
    landlocked: set[int] = field(default_factory=set)  # processes (tgids) that restricted themselves
    by_domain: dict[str, set[int]] = field(default_factory=dict)  # domain -> processes (tgids) seen in it


def exec_argv(c: Call) -> tuple[str, tuple[str, ...]]:
    """(program, argv) of an ``execve``/``execveat`` call (strings as strace shows them, ``-s`` cut)."""
    prog_i = 1 if c.name == "execveat" else 0
    program = unquote(c.args[prog_i]) if len(c.args) > prog_i else ""
    argv_text = c.args[prog_i + 1] if len(c.args) > prog_i + 1 else ""
    return program, tuple(unquote(m) for m in _QUOTED.findall(argv_text))


def is_node_launcher(argv: tuple[str, ...]) -> bool:
    return any(a == "-m" and b == NODE_MODULE for a, b in pairwise(argv))


def lineage(trace: Trace) -> Lineage:
    """Label every call of ``trace`` with its thread's domain (see the module docstring).

    A forked child's first calls can be recorded before its parent's ``clone`` returns (strace
    writes the call when it completes), so the tree is read from the whole trace first and each
    thread's domain is then derived from its parent's domain at the moment of the fork."""
    calls = trace.calls
    parent: dict[int, tuple[int, int]] = {}  # child id -> (parent id, index of the fork call)
    threads: set[int] = set()
    exec_at: dict[int, list[int]] = {}
    raw_execs: dict[int, list[tuple[int, str, tuple[str, ...]]]] = {}
    restricted: list[int] = []
    for i, c in enumerate(calls):
        if c.name in FORKS and c.ok:
            try:
                child = int(c.ret.split()[0])
            except ValueError:
                continue
            parent[child] = (c.pid, i)
            if "CLONE_THREAD" in ",".join(c.args):
                threads.add(child)
        elif c.name in EXECS and c.ok:
            program, argv = exec_argv(c)
            exec_at.setdefault(c.pid, []).append(i)
            raw_execs.setdefault(c.pid, []).append((i, program, argv))
        elif c.name in GUARD and c.ok:
            restricted.append(c.pid)
    roots = {c.pid for c in calls} - parent.keys()

    @cache
    def label(pid: int, k: int) -> str:
        """The domain of ``pid`` after its first ``k`` execs."""
        if k == 0:
            if pid in parent:
                ppid, at = parent[pid]
                return domain_at(ppid, at)
            return "start"  # the traced command before its own execve (strace's child)
        before = label(pid, k - 1)
        _, _, argv = raw_execs[pid][k - 1]
        if before == "ray" or is_node_launcher(argv):
            return "ray"
        return "zone" if before == "start" and pid in roots else "other"

    def domain_at(pid: int, index: int) -> str:
        return label(pid, bisect_right(exec_at.get(pid, []), index))

    @cache
    def tgid(pid: int) -> int:
        return tgid(parent[pid][0]) if pid in threads and pid in parent else pid

    domains = [domain_at(c.pid, i) for i, c in enumerate(calls)]
    execs = [
        Exec(pid, i, program, argv, label(pid, n + 1))
        for pid, events in raw_execs.items()
        for n, (i, program, argv) in enumerate(events)
    ]
    by_domain: dict[str, set[int]] = {}
    for c, dom in zip(calls, domains, strict=True):
        by_domain.setdefault(dom, set()).add(tgid(c.pid))
    ids = {c.pid for c in calls} | parent.keys()
    return Lineage(
        domains,
        sorted(execs, key=lambda e: e.index),
        {p: tgid(p) for p in ids},
        {tgid(p) for p in restricted},
        by_domain,
    )
