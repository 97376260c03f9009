"""``zhongli site render``: a site plan as files — a systemd unit, a Containerfile, a compose file.

The unit and the Containerfile are filled in from the templates beside this module (``@NAME@``
placeholders); the compose file is written as data. Nothing here builds or starts anything.
"""

from __future__ import annotations

import argparse
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from deploy.site.plan import SitePlan, plan_for
from protocols.errors import ConfigError, InvalidInput

DEFAULT_EXE = "/opt/zhongli/bin/zhongli"  # a venv the wheel is installed into (docs/SITE.md)
DEFAULT_USER = "zhongli"
DEFAULT_UID = 10001
ZONE_SHM = "1m"  # semaphores only (neutral_zone/guard.py): a few 32-byte objects, never data
# RAM-backed scratch for the agent and the audit service (SQLite temp files); never the zone.
TMPFS = "/tmp:size=16m,mode=1777"  # noqa: S108 - a tmpfs mount option for the container, not a file we open

UNIT_ROLE_LINES = {
    "zone": (
        "# The zone: no writable path at all (no ReadWritePaths, no PrivateTmp: /tmp stays read-only);\n"
        "# PrivateDevices gives it a private, RAM-backed /dev/shm, which its own guard opens to semaphores\n"
        "# only. mlockall needs an unlimited memlock limit; the cgroup never swaps what it holds.\n"
        "LimitMEMLOCK=infinity\n"
        "MemorySwapMax=0\n"
        "CapabilityBoundingSet=\n"
    ),
    "party": "PrivateTmp=yes\nCapabilityBoundingSet=\n",
    "audit": "PrivateTmp=yes\nCapabilityBoundingSet=\n",
}


def _template(name: str) -> str:
    return resources.files("deploy.site").joinpath("templates", name).read_text(encoding="utf-8")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:
        raise ConfigError(f"site template left unfilled: {', '.join(left)}")
    return text


def _unit_path(p: Path) -> str:
    s = str(p)
    if any(c.isspace() for c in s) or '"' in s or "\\" in s:
        raise InvalidInput(f"path {s!r}: systemd paths here must not hold spaces, quotes or backslashes")
    return s


def _mounts_words(plan: SitePlan) -> str:
    if not plan.writable:
        return "every mount read-only and no writable volume at all"
    return "every mount read-only but " + ", ".join(str(p) for p in plan.writable)


def unit_text(plan: SitePlan, topology: Path, exe: str, user: str) -> str:
    lines = [f"ReadOnlyPaths={_unit_path(p)}" for p in plan.read_only]
    lines += [f"ReadWritePaths={_unit_path(p)}" for p in plan.writable]
    return _fill(
        _template("zhongli.service.in"),
        {
            "TITLE": f"systemd unit for the {plan.what} '{plan.name}'",
            "TOPOLOGY": str(topology),
            "NAME": plan.name,
            "CONFIG_NAME": plan.config.name,
            "WHAT": plan.what,
            "PORT": str(plan.port),
            "USER": user,
            "EXE": _unit_path(Path(exe)),
            "COMMAND": plan.command,
            "CONFIG": _unit_path(plan.config),
            "PATHS": "\n".join(lines),
            "ROLE_LINES": UNIT_ROLE_LINES[plan.command],
        },
    )


def containerfile_text(plan: SitePlan, topology: Path, image: str, uid: int) -> str:
    return _fill(
        _template("Containerfile.in"),
        {
            "TITLE": f"container build for the {plan.what} '{plan.name}'",
            "TOPOLOGY": str(topology),
            "NAME": plan.name,
            "ROLE": plan.role,
            "IMAGE": image,
            "MOUNTS_WORDS": _mounts_words(plan),
            "UID": str(uid),
            "PORT": str(plan.port),
            "COMMAND": plan.command,
            "CONFIG": str(plan.config),
        },
    )


def compose_data(plan: SitePlan, image: str, uid: int) -> dict[str, Any]:
    """The compose file's content: one service, the image built from the Containerfile beside it."""
    published = f"{plan.host_ip}:{plan.port}:{plan.port}" if plan.host_ip else f"{plan.port}:{plan.port}"
    service: dict[str, Any] = {
        "image": image,
        "build": {"context": ".", "dockerfile": "Containerfile"},
        "read_only": True,
        "user": f"{uid}:{uid}",
        # Inside the container the server listens on every interface of its own network namespace;
        # the port published below is the one the topology names.
        "environment": {"ZHONGLI_LISTEN": f"0.0.0.0:{plan.port}", "PYTHONDONTWRITEBYTECODE": "1"},
        "ports": [published],
        "volumes": [
            {"type": "bind", "source": str(m.path), "target": str(m.path), "read_only": not m.writable}
            for m in plan.mounts
        ],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "ulimits": {"core": 0},
        "restart": "on-failure",
    }
    if plan.command == "zone":
        # No writable volume and no tmpfs: only the RAM-backed /dev/shm every container has, kept
        # to the size of a few semaphores. Memory locked (mlockall), never swapped.
        service["shm_size"] = ZONE_SHM
        service["ulimits"] = {"core": 0, "memlock": -1}
    else:
        service["tmpfs"] = [TMPFS]
    return {"name": f"zhongli-{plan.name}", "services": {plan.name: service}}


def compose_text(plan: SitePlan, topology: Path, image: str, uid: int) -> str:
    head = [
        f"# compose file for the {plan.what} '{plan.name}' (podman compose / docker compose)",
        f"# Written by `zhongli site render --topology {topology} --as {plan.name}` (docs/SITE.md).",
        "# Every path is mounted at the same path as on the host, so the config needs no change;",
        f"# {_mounts_words(plan)}.",
    ]
    body = yaml.safe_dump(compose_data(plan, image, uid), sort_keys=False, allow_unicode=True)
    return "\n".join(head) + "\n" + body


def render_files(
    plan: SitePlan,
    topology: Path,
    image: str | None = None,
    exe: str = DEFAULT_EXE,
    user: str = DEFAULT_USER,
    uid: int = DEFAULT_UID,
) -> dict[str, str]:
    """The three files of ``plan`` by file name."""
    image = image or f"localhost/zhongli-{plan.name}:latest"
    return {
        f"zhongli-{plan.name}.service": unit_text(plan, topology, exe, user),
        "Containerfile": containerfile_text(plan, topology, image, uid),
        "compose.yaml": compose_text(plan, topology, image, uid),
    }


def write_site(files: dict[str, str], out: Path) -> list[Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
            written.append(out / name)
    except OSError as exc:
        raise InvalidInput(f"cannot write the site files to {out}: {exc.strerror}") from exc
    return written


def add_arguments(sub: Any) -> None:
    """``zhongli site render`` under the CLI's sub-commands."""
    site = sub.add_parser("site", help="run a server at its own site: systemd unit and container files")
    actions = site.add_subparsers(dest="action", required=True)
    r = actions.add_parser(
        "render", help="write the systemd unit, Containerfile and compose file of one server of a topology"
    )
    r.add_argument("--topology", default=os.environ.get("ZHONGLI_TOPOLOGY"), help="topology file")
    r.add_argument("--as", dest="identity", default=os.environ.get("ZHONGLI_AS"), help="the server's name")
    r.add_argument("--out", type=Path, help="folder to write into (default: site-NAME beside the topology)")
    r.add_argument("--image", help="the image name compose builds and runs (default localhost/zhongli-NAME)")
    r.add_argument("--exe", default=DEFAULT_EXE, help=f"the zhongli executable the unit runs ({DEFAULT_EXE})")
    r.add_argument("--user", default=DEFAULT_USER, help="the system user the unit runs as")
    r.add_argument("--uid", type=int, default=DEFAULT_UID, help="the user id inside the container")
    r.set_defaults(func=cmd_site_render)


def cmd_site_render(args: argparse.Namespace) -> int:
    from deploy.topology import load_topology

    if not args.topology or not args.identity:
        raise InvalidInput("give --topology FILE and --as NAME (the server to run at this site)")
    topology = Path(args.topology).resolve()
    plan = plan_for(load_topology(topology), args.identity)
    out = Path(args.out) if args.out else topology.parent / f"site-{plan.name}"
    files = render_files(plan, topology, image=args.image, exe=args.exe, user=args.user, uid=args.uid)
    for path in write_site(files, out):
        print(f"wrote {path}")
    print(
        f"{plan.what} '{plan.name}': port {plan.port}; reads {len(plan.read_only)} path(s) read-only; writes "
        + (", ".join(str(p) for p in plan.writable) or "nothing")
    )
    return 0
