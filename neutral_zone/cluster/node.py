"""Start one node of the zone's Ray cluster with nothing on disk:
``python -m neutral_zone.cluster.node --temp-root /dev/shm/zhongli-ray (--head --port P | --address HEAD)``.

The launcher checks that the temp root is on tmpfs, sets the cluster's environment
(:func:`neutral_zone.cluster.settings.node_env`: spilling off, TLS), confines itself with Landlock
to writing beneath the temp root and /dev/shm, and then becomes ``ray start --block``: GCS, raylet,
the agents and every worker are its descendants and inherit the confinement. Ending this process
(SIGTERM) stops the node. The head node sets the cluster's system config (object spilling off).
With ``--parent-pid`` (the zone's own node) the node also stops when that process dies, even by
SIGKILL: a dead zone must not leave a node holding its sessions' objects.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
from pathlib import Path

from neutral_zone import guard
from neutral_zone.cluster.settings import SHM, SPILL_OFF, node_env, require_tmpfs
from protocols.errors import ZhongliError
from transport.rpc import TlsFiles

_PR_SET_PDEATHSIG = 1


def ray_start_args(args: argparse.Namespace, temp_dir: Path) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--block",
        f"--temp-dir={temp_dir}",
        f"--num-cpus={args.num_cpus}",
        f"--object-store-memory={args.object_store_mb * 2**20}",
        f"--node-ip-address={args.node_ip}",
        "--disable-usage-stats",
    ]
    if args.head:
        cmd += [
            "--head",
            f"--port={args.port}",
            "--include-dashboard=false",
            f"--system-config={json.dumps(SPILL_OFF)}",
        ]
    else:
        cmd += [f"--address={args.address}"]
    return cmd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m neutral_zone.cluster.node", description=__doc__)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--head", action="store_true", help="start the head node (GCS)")
    where.add_argument("--address", help="join the cluster whose head is at HOST:PORT")
    ap.add_argument("--port", type=int, default=6379, help="the head's GCS port")
    ap.add_argument("--temp-root", required=True, help="a folder on tmpfs (e.g. /dev/shm/zhongli-ray)")
    ap.add_argument("--num-cpus", type=int, default=1)
    ap.add_argument("--object-store-mb", type=int, default=256)
    ap.add_argument("--node-ip", default="127.0.0.1")
    ap.add_argument("--tls-ca")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--parent-pid", type=int, help="stop the node when this process (the zone) dies")
    args = ap.parse_args(argv)
    if args.parent_pid is not None:
        # The kernel sends SIGTERM when the parent dies; it survives the exec into `ray start`,
        # which then drains and ends its node. Checked after setting it: the parent may be gone.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != args.parent_pid:
            print("zhongli: the zone that started this node has exited", file=sys.stderr)
            return 1
    try:
        root = Path(args.temp_root)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        require_tmpfs(root, "--temp-root")
        tls = None
        if args.tls_ca or args.tls_cert or args.tls_key:
            if not (args.tls_ca and args.tls_cert and args.tls_key):
                raise ZhongliError("--tls-ca, --tls-cert and --tls-key go together")
            tls = TlsFiles(ca=Path(args.tls_ca), cert=Path(args.tls_cert), key=Path(args.tls_key))
        temp_dir = root / "ray"
        temp_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ.update(node_env(root, tls))
        if not guard.confine_writes([str(root), SHM]):
            print(
                "zhongli: Landlock is unavailable: Ray's processes are not confined to tmpfs", file=sys.stderr
            )
        cmd = ray_start_args(args, temp_dir)
    except (OSError, ZhongliError) as exc:
        print(f"zhongli: {exc}", file=sys.stderr)
        return 1
    os.execv(cmd[0], cmd)  # noqa: S606 - becomes `ray start`, with this process's confinement


if __name__ == "__main__":
    sys.exit(main())
