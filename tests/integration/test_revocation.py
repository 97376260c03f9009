"""A revoked certificate opens nothing: every server kind refuses it, and clients refuse a server
that presents one.

Real processes (``zhongli up``'s launcher) over mTLS, configured with the CA's revocation list
(``tls.crl``, as ``deploy/configs.py`` writes every config). The attacker holds a genuine
certificate and key from the project CA for a real identity — a copy that leaked: the zone's
(against a party agent), the OEM's (against the zone), an auditor's (against the audit service),
and the zone's again, served by an impostor, against the OEM's client. Each control makes the
same call before the revocation and sees it reach the server; after ``zhongli certs revoke``
(no restart: servers re-read the list when it changes) the same call is refused with
UNAUTHENTICATED naming the revocation, or, on the client side, PERMISSION_DENIED.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from audit.client import AuditClient
from deploy import certs
from deploy.configs import PartySpec
from deploy.tooling.launcher import Cluster
from deploy.tooling.world import write_world
from deploy.topology import Topology, load_topology
from neutral_zone.client import ZoneCallError, ZoneClient
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from proto.party.v1 import party_pb2 as ppb
from proto.party.v1 import party_pb2_grpc as ppb_grpc
from tests.integration.helpers import phones, write_party_csv
from transport.rpc import TlsFiles, make_server, secure_channel

ROOT = Path(__file__).resolve().parents[2]
COLS = [{"name": "score", "role": "feature", "type": "numeric", "share": True}]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Topology]]:
    tmp = tmp_path_factory.mktemp("revocation")
    rng = np.random.default_rng(11)
    specs = []
    for name, role in (("oem", "brand"), ("media-a", "media")):
        csv = tmp / f"{name}.csv"
        write_party_csv(csv, phones(rng, 200), rng)
        specs.append(PartySpec(name, role, csv, COLS))
    path = write_world(tmp / "world", specs)
    topo = load_topology(path)
    with Cluster(topo, path.parent / "logs"):
        yield path, topo


def leaked(topo: Topology, tmp: Path, name: str, role: str) -> TlsFiles:
    """A second genuine certificate for ``name`` from the world's CA (what a leak hands over)."""
    tmp.mkdir(exist_ok=True)
    certs.issue(tmp, name, role, certs.load_ca(topo.certs_dir), days=1)
    return TlsFiles(ca=topo.certs_dir / "ca.pem", cert=tmp / f"{name}.pem", key=tmp / f"{name}.key")


def outcome(fn: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    try:
        fn()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    except ZoneCallError as exc:
        return exc.grpc_code, str(exc)
    return grpc.StatusCode.OK, ""


def revoke_with_cli(topology: Path, name: str, cert: Path) -> str:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.cli",
            "certs",
            "revoke",
            name,
            "--topology",
            str(topology),
            "--cert",
            str(cert),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "keep it offline" in proc.stdout.lower()
    return proc.stdout


def test_party_agent_refuses_a_revoked_zone_certificate(world: tuple[Path, Topology], tmp_path: Path) -> None:
    path, topo = world
    stolen = leaked(topo, tmp_path / "stolen", "zone", "zone")
    agent = topo.get("media-a")
    ch = secure_channel(agent.address or "", stolen, server_name="media-a")
    try:
        describe = lambda: ppb_grpc.PartyAgentStub(ch).Describe(ppb.DescribeRequest(), timeout=30)  # noqa: E731
        assert outcome(describe)[0] == grpc.StatusCode.OK  # control: the leaked copy works until revoked
        revoke_with_cli(path, "zone", stolen.cert)
        code, msg = outcome(describe)
    finally:
        ch.close()
    assert code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in msg, (code, msg)


def test_zone_refuses_a_revoked_requester_certificate(world: tuple[Path, Topology], tmp_path: Path) -> None:
    _path, topo = world
    stolen = leaked(topo, tmp_path / "stolen", "oem", "brand")
    zone = topo.get("zone")
    with ZoneClient(zone.address or "", stolen, server_name="zone", timeout=30) as client:
        assert (
            outcome(lambda: client.session("no-such-session"))[0] == grpc.StatusCode.NOT_FOUND
        )  # reached the zone
        certs.revoke(topo.certs_dir, "oem", cert_file=stolen.cert)
        code, msg = outcome(lambda: client.session("no-such-session"))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in msg, (code, msg)
    # The genuine OEM certificate (another serial) is unaffected.
    with ZoneClient(
        zone.address or "", topo.tls_for("oem").files(), server_name="zone", timeout=30
    ) as honest:
        assert outcome(lambda: honest.session("no-such-session"))[0] == grpc.StatusCode.NOT_FOUND


def test_audit_service_refuses_a_revoked_auditor_certificate(
    world: tuple[Path, Topology], tmp_path: Path
) -> None:
    path, topo = world
    stolen = leaked(topo, tmp_path / "stolen", "auditor-1", "auditor")
    audit = topo.get("audit")
    ch = secure_channel(audit.address or "", stolen, server_name="audit")

    def pending() -> audit_pb2.ListPendingResponse:
        return audit_pb2_grpc.AuditServiceStub(ch).ListPending(audit_pb2.ListPendingRequest(), timeout=30)

    try:
        assert outcome(pending)[0] == grpc.StatusCode.OK
        revoke_with_cli(path, "auditor-1", stolen.cert)
        code, msg = outcome(pending)
    finally:
        ch.close()
    assert code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in msg, (code, msg)
    with AuditClient(audit.address or "", topo.tls_for("auditor-1").files(), server_name="audit") as honest:
        honest.list_pending()


def test_client_refuses_a_server_presenting_a_revoked_certificate(
    world: tuple[Path, Topology], tmp_path: Path
) -> None:
    """An impostor serves the zone's name with a leaked zone certificate; the OEM's client (its
    topology's TLS, revocation list included) talks to it until that certificate is revoked."""
    _path, topo = world
    stolen = leaked(topo, tmp_path / "stolen", "zone", "zone")
    impostor, port = make_server(stolen, "127.0.0.1:0")  # no services: every call is UNIMPLEMENTED
    impostor.start()
    try:
        oem = topo.tls_for("oem").files()
        assert oem.crl is not None
        with ZoneClient(f"127.0.0.1:{port}", oem, server_name="zone", timeout=30) as client:
            assert (
                outcome(lambda: client.session("s"))[0] == grpc.StatusCode.UNIMPLEMENTED
            )  # control: reached it
        certs.revoke(topo.certs_dir, "zone", cert_file=stolen.cert)
        with ZoneClient(f"127.0.0.1:{port}", oem, server_name="zone", timeout=30) as client:
            code, msg = outcome(lambda: client.session("s"))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "revoked" in msg, (code, msg)
        # The real zone, whose certificate is not revoked, still serves the same client.
        with ZoneClient(topo.get("zone").address or "", oem, server_name="zone", timeout=30) as client:
            assert outcome(lambda: client.session("s"))[0] == grpc.StatusCode.NOT_FOUND
    finally:
        impostor.stop(0)
