"""The trace checker's process tree (deploy/tooling/lineage.py) and its per-domain rule: Ray's
processes of the zone's own node may write beneath their tmpfs folders, the zone and anything else
it would start may not. Synthetic strace lines, as ``strace -f -yy`` writes them; the real run is
tests/integration/test_no_disk_ray.py."""

from __future__ import annotations

from pathlib import Path

from deploy.tooling import trace as st
from deploy.tooling.lineage import exec_argv, is_node_launcher, lineage

ROOT = "/dev/shm/zr"  # the node's temp root in these lines (never touched: the trace is text)
TRACE = f"""\
100 execve("/usr/bin/python3", ["python3", "-m", "deploy.cli", "zone", "serve"], 0x7ffd /* 9 vars */) = 0
100 clone3({{flags=CLONE_VM|CLONE_FS|CLONE_SIGHAND|CLONE_THREAD, child_tid=0x1}} => {{parent_tid=[101]}}, 88) = 101
100 landlock_restrict_self(3, 0) = 0
100 vfork( <unfinished ...>
102 execve("/usr/bin/python3", ["python3", "-m", "neutral_zone.cluster.node", "--head"], 0x7f <unfinished ...>
102 <... execve resumed>) = 0
100 <... vfork resumed>) = 102
102 landlock_restrict_self(3, 0) = 0
102 execve("/usr/bin/python3", ["python3", "-m", "ray.scripts.scripts", "start"], 0x7ffd /* 9 vars */) = 0
102 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 103
103 execve("/venv/ray/core/src/ray/raylet/raylet", ["/venv/ray/core/src/ray/raylet/ra"...], 0x7ffd /* 9 vars */) = 0
103 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 104
104 openat(AT_FDCWD</>, "{ROOT}/ray/s/logs/w.out", O_WRONLY|O_CREAT|O_APPEND, 0644) = 5<{ROOT}/ray/s/logs/w.out>
104 execve("/usr/bin/python3", ["python3", "/venv/ray/_private/workers/"...], 0x7ffd /* 9 vars */) = 0
104 clone3({{flags=CLONE_VM|CLONE_THREAD, child_tid=0x1}} => {{parent_tid=[105]}}, 88) = 105
105 landlock_restrict_self(4, 0) = 0
104 write(5<{ROOT}/ray/s/logs/w.out>, "ready", 5) = 5
103 openat(AT_FDCWD</>, "/dev/shm/plasmaAb", O_RDWR|O_CREAT|O_EXCL, 0600) = 9</dev/shm/plasmaAb>
103 unlink("/dev/shm/plasmaAb") = 0
103 ftruncate(9</dev/shm/plasmaAb>(deleted), 134217736) = 0
105 openat(AT_FDCWD</>, "/tmp/leak", O_WRONLY|O_CREAT, 0600) = 6</tmp/leak>
104 openat(AT_FDCWD</>, "{ROOT}/../../../etc/x", O_WRONLY, 0600) = 7</etc/x>
104 openat(AT_FDCWD</>, "{ROOT}/link", O_WRONLY, 0600) = 8</home/disk/file>
101 openat(AT_FDCWD</>, "{ROOT}/ray/s/logs/zone.log", O_WRONLY|O_CREAT, 0600) = 7<{ROOT}/ray/s/logs/zone.log>
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 106
106 execve("/bin/sh", ["sh", "-c", "cp x y"], 0x7ffd /* 9 vars */) = 0
106 mkdir("{ROOT}/other", 0700) = 0
104 +++ exited with 0 +++
"""


def parsed(tmp_path: Path, text: str = TRACE) -> st.Trace:
    f = tmp_path / "t.trace"
    f.write_text(text)
    return st.parse(f)


def test_every_call_gets_its_processs_domain(tmp_path: Path) -> None:
    t = parsed(tmp_path)
    lin = lineage(t)
    by_call = {(c.pid, c.name, i): d for i, (c, d) in enumerate(zip(t.calls, lin.domains, strict=True))}
    # the launcher's exec is recorded before its parent's vfork returns: still the node's lineage
    assert [d for (pid, _, _), d in by_call.items() if pid == 102] == ["ray"] * 4
    assert {d for (pid, _, _), d in by_call.items() if pid in (103, 104, 105)} == {"ray"}
    assert {d for (pid, _, _), d in by_call.items() if pid in (100, 101)} == {"zone"}
    assert {d for (pid, _, _), d in by_call.items() if pid == 106} == {"other"}  # sh, started by the zone
    assert lin.tgid[105] == 104 and lin.tgid[101] == 100 and lin.tgid[104] == 104
    assert lin.landlocked == {100, 102, 104}  # a worker's thread restricted its process
    assert lin.by_domain == {"zone": {100}, "ray": {102, 103, 104}, "other": {106}}
    assert [(e.pid, Path(e.program).name, e.domain) for e in lin.execs] == [
        (100, "python3", "zone"),
        (102, "python3", "ray"),
        (102, "python3", "ray"),
        (103, "raylet", "ray"),
        (104, "python3", "ray"),
        (106, "sh", "other"),
    ]


def test_ray_processes_write_beneath_their_tmpfs_folders_and_nowhere_else(tmp_path: Path) -> None:
    t = parsed(tmp_path)
    r = st.check(t, [], shm_is_ram=True, writable={"ray": [ROOT, "/dev/shm"]})
    flagged = sorted(v.split(": ", 1)[1].split(" ")[0] + " " + v.split('"')[1] for v in r.violations)
    assert flagged == [
        f"101 {ROOT}/ray/s/logs/zone.log",  # the zone's own thread: held to the zone's rule
        f"104 {ROOT}/../../../etc/x",  # ".." out of the folder
        f"104 {ROOT}/link",  # a symlink the kernel followed to a disk file
        "105 /tmp/leak",  # a worker (its guard's thread) writing to disk
        f"106 {ROOT}/other",  # a program the zone would start is not Ray's
    ], r.violations
    # the worker's log, the object store's file (created, unlinked, sized): Ray's, on tmpfs
    assert r.allowed["ray"] == 5 and r.allowed_paths["ray"] >= {
        "/dev/shm/plasmaAb",
        f"{ROOT}/ray/s/logs/w.out",
    }
    assert "domain ray:" in r.summary() and "raylet" in r.summary()


def test_the_zone_may_be_given_a_folder_too_and_a_folder_off_tmpfs_grants_nothing(tmp_path: Path) -> None:
    t = parsed(tmp_path)
    r = st.check(t, [], shm_is_ram=True, writable={"ray": [ROOT, "/dev/shm"], "zone": [f"{ROOT}/ray/s/logs"]})
    assert not any("zone.log" in v for v in r.violations) and r.allowed_paths["zone"] == {
        f"{ROOT}/ray/s/logs/zone.log"
    }
    off = st.check(t, [], shm_is_ram=False, writable={"ray": [ROOT, "/dev/shm"]})
    assert f"the ray processes' writable folder {ROOT} is not on a RAM file system" in off.violations
    assert any("w.out" in v for v in off.violations) and any("plasmaAb" in v for v in off.violations)
    assert off.allowed["ray"] == 0
    # without ``writable`` every process is held to the zone's rule, as before
    strict = st.check(t, [], shm_is_ram=True)
    assert strict.lineage is None and any("w.out" in v for v in strict.violations)


def test_exec_arguments_and_the_launcher_are_read_from_the_line(tmp_path: Path) -> None:
    t = parsed(tmp_path)
    execs = [c for c in t.calls if c.name == "execve"]
    assert exec_argv(execs[1]) == (
        "/usr/bin/python3",
        ("python3", "-m", "neutral_zone.cluster.node", "--head"),
    )
    assert is_node_launcher(exec_argv(execs[1])[1])
    assert not is_node_launcher(("python3", "neutral_zone.cluster.node"))  # a mere argument is not the module
    assert not is_node_launcher(exec_argv(execs[0])[1])
    # "(deleted)" after an fd's decoration, and a device's numbers inside it
    assert st.fd_of("9</dev/shm/plasmaAb>(deleted)") == ("9", "/dev/shm/plasmaAb")
    assert st.fd_kind("/dev/null<char 1:3>") == "devnull"
