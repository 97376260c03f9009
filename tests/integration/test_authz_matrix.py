"""The authorisation matrix: every RPC of every service, called as every identity, over real gRPC
with mutual TLS against one in-process world (audit service, three party agents, zone).

The expected outcome of each cell comes from the small tables below (``PARTY_RPCS``,
``ZONE_RPCS``, ``AUDIT_RPCS``), not from the code under test. A cell is *refused* when the caller
must not use the RPC at all: PERMISSION_DENIED for a certificate with a Zhongli identity (by role
in ``transport.rpc.guarded``, or by certificate name where a servicer checks it), UNAUTHENTICATED
for a certificate from the right CA that carries no identity. A cell is *allowed* when
authorisation lets the call through: then any status is fine (INVALID_ARGUMENT, NOT_FOUND, OK...:
the requests are minimal and mostly invalid) except an authorisation refusal or a transport
failure. Per-object ownership (a session belongs to its requester, a release to its recipient) is
not a role question: tests/integration/test_authz.py covers it with real sessions and releases.

The certificate itself is tested too: one from another CA, and an expired one from the right CA,
fail the TLS handshake (UNAVAILABLE) at all three services, and a client that pins another name
than the server's certificate carries refuses the server. The zone-side case of a server
impersonating a party (an agent with a certificate for another name at the address the zone's
config gives) is ``test_zone_refuses_a_party_whose_certificate_has_another_name`` in
tests/integration/test_authz.py; it is not repeated here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deploy import certs
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from proto.party.v1 import party_pb2, party_pb2_grpc
from proto.zone.v1 import zone_pb2, zone_pb2_grpc
from tests.integration.live import LiveWorld, small_world
from transport.identity import ROLES
from transport.rpc import TlsFiles, secure_channel

TIMEOUT = 5.0
ZONE_NAME = "zone"  # write_world's zone; every agent's `zone_name` and the audit's `zone_name`
PARTY_ROLES = ("brand", "media", "data_provider")
PARTIES = ("oem", "media-a", "provider")
ANONYMOUS = "anonymous"  # a certificate from the world's CA without a zhongli:// identity

# Every identity each RPC is called as: the world's own certificates, plus a second brand and a
# second zone-role certificate (same CA, names the world does not list), plus no identity at all.
IDENTITIES: tuple[tuple[str, str | None], ...] = (
    ("oem", "brand"),
    ("oem-2", "brand"),
    ("media-a", "media"),
    ("provider", "data_provider"),
    ("zone", "zone"),
    ("zone-2", "zone"),
    ("audit", "audit"),
    ("auditor-1", "auditor"),
    (ANONYMOUS, None),
)

SELF = "<the serving party>"


@dataclass(frozen=True)
class Rule:
    """Who may call an RPC: ``roles`` by certificate role and, when set, only the certificate
    ``name`` (``SELF``: the party whose agent serves the call)."""

    roles: tuple[str, ...]
    name: str | None = None
    zone_named: bool = False  # a zone-role caller must be the configured zone itself

    def allows(self, name: str, role: str | None, owner: str | None) -> bool:
        if role not in self.roles:
            return False
        if self.zone_named and role == "zone":
            return name == ZONE_NAME
        if self.name is None:
            return True
        return name == (owner if self.name == SELF else self.name)


ONLY_THE_ZONE = Rule(("zone",), name=ZONE_NAME)

# parties/agent.py: every RPC is @guarded("zone") and then `_only_zone` (the configured zone
# name); MapScores is @guarded(party roles) and then only the agent's own organisation.
PARTY_RPCS: dict[str, Rule] = {
    "Describe": ONLY_THE_ZONE,
    "Prepare": ONLY_THE_ZONE,
    "StreamBlinded": ONLY_THE_ZONE,
    "Blind": ONLY_THE_ZONE,
    "StreamColumns": ONLY_THE_ZONE,
    "EndSession": ONLY_THE_ZONE,
    "MapScores": Rule(PARTY_ROLES, name=SELF),
}

# neutral_zone/service.py: every RPC is @guarded(brand, media, data_provider). OpenSession is
# further limited to the zone's `requester_roles` (default [brand], as in this world): media and
# data_provider get PERMISSION_DENIED from the zone's own logic, so for them the cell is refused.
# The other RPCs act on one session or release, whose owner/recipient the zone checks per object
# (covered in test_authz.py); at the role level they are open to every party role.
ZONE_RPCS: dict[str, Rule] = {
    "OpenSession": Rule(("brand",)),
    "GetSession": Rule(PARTY_ROLES),
    "RunJob": Rule(PARTY_ROLES),
    "GetRelease": Rule(PARTY_ROLES),
    "FetchRelease": Rule(PARTY_ROLES),
    "CloseSession": Rule(PARTY_ROLES),
}

# audit/servicer.py's table: writes come only from the configured zone (role *and* name, via
# `require_peer`); reads are open to auditors and to any zone-role certificate (no name check).
AUDIT_RPCS: dict[str, Rule] = {
    "SubmitRelease": ONLY_THE_ZONE,
    "RecordEvent": ONLY_THE_ZONE,
    "RecordPolicy": ONLY_THE_ZONE,
    "SpendBudget": ONLY_THE_ZONE,
    "ListPending": Rule(("auditor",)),
    "GetRelease": Rule(("auditor", "zone"), zone_named=True),
    "GetPolicy": Rule(
        ("auditor", "zone", *PARTY_ROLES), zone_named=True
    ),  # parties check each session's policy
    "GetBudget": Rule(("auditor", "zone"), zone_named=True),
    "Decide": Rule(("auditor",)),
    "VerifyLog": Rule(("auditor", "zone"), zone_named=True),
    "ExportLog": Rule(("auditor",)),
    "AdmitRequest": ONLY_THE_ZONE,
    "ListReleases": Rule(("auditor",)),
    "ListRequests": Rule(("auditor",)),
}

# Minimal requests where the empty message would not do; every other RPC gets its empty request.
REQUESTS: dict[tuple[str, str], Callable[[], Any]] = {
    ("PartyAgent", "Blind"): lambda: party_pb2.BlindRequest(
        header=party_pb2.BlindHeader(session_id="no-such-session")
    ),
}

REFUSALS = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
# Statuses that would mean the call never reached (or broke inside) the servicer: an "allowed"
# cell must not hide behind them.
TRANSPORT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
}


@dataclass(frozen=True)
class Target:
    label: str
    server_name: str
    service: Any  # the protobuf ServiceDescriptor
    stub: Callable[[grpc.Channel], Any]
    module: Any  # the *_pb2 module holding the request classes
    table: dict[str, Rule]
    owner: str | None = None  # the party a party agent serves

    def address(self, w: LiveWorld) -> str:
        if self.label == "zone":
            return w.zone_address
        if self.label == "audit":
            return w.audit_cfg.listen
        assert self.owner is not None
        return w.party_cfgs[self.owner].listen


def _svc(module: Any, name: str) -> Any:
    return module.DESCRIPTOR.services_by_name[name]


TARGETS: tuple[Target, ...] = (
    Target("zone", "zone", _svc(zone_pb2, "NeutralZone"), zone_pb2_grpc.NeutralZoneStub, zone_pb2, ZONE_RPCS),
    Target(
        "audit",
        "audit",
        _svc(audit_pb2, "AuditService"),
        audit_pb2_grpc.AuditServiceStub,
        audit_pb2,
        AUDIT_RPCS,
    ),
    *(
        Target(
            f"party:{p}",
            p,
            _svc(party_pb2, "PartyAgent"),
            party_pb2_grpc.PartyAgentStub,
            party_pb2,
            PARTY_RPCS,
            owner=p,
        )
        for p in PARTIES
    ),
)


# --- certificates the world does not issue ------------------------------------------------------


def _issue_anonymous(out: Path, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> None:
    """``<out>/anonymous.pem``: signed by the world's CA, valid, but with no zhongli:// URI."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ANONYMOUS)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(ANONYMOUS), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (out / f"{ANONYMOUS}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / f"{ANONYMOUS}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


# --- the world and its callers ------------------------------------------------------------------


class Callers:
    """One channel per (identity, server), opened on first use."""

    def __init__(self, w: LiveWorld) -> None:
        self.w = w
        self._channels: dict[tuple[str, str], grpc.Channel] = {}

    def stub(self, identity: str, t: Target) -> Any:
        key = (identity, t.label)
        if key not in self._channels:
            self._channels[key] = secure_channel(
                t.address(self.w), self.w.tls(identity), server_name=t.server_name
            )
        return t.stub(self._channels[key])

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveWorld, Callers]]:
    w = LiveWorld(small_world(tmp_path_factory.mktemp("authz-matrix")))
    callers = Callers(w)
    try:
        ca = certs.load_ca(w.certs)
        certs.issue(w.certs, "oem-2", "brand", ca, days=1)
        certs.issue(w.certs, "zone-2", "zone", ca, days=1)
        _issue_anonymous(w.certs, ca)
        yield w, callers
    finally:
        callers.close()
        w.close()


def call(stub: Any, method: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    """Call ``method`` (a MethodDescriptor) once, draining any response stream; its status."""
    fn = getattr(stub, method.name)
    try:
        out = fn(iter([request]) if method.client_streaming else request, timeout=TIMEOUT)
        if method.server_streaming:
            for _ in out:
                pass
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def minimal_request(t: Target, method: Any) -> Any:
    make = REQUESTS.get((t.service.name, method.name))
    return make() if make else getattr(t.module, method.input_type.name)()


def judge(allowed: bool, name: str, role: str | None, code: grpc.StatusCode, details: str) -> str | None:
    """Why this outcome is wrong for the cell, or None if it is right."""
    got = f"got {code.name}: {details[:160]!r}"
    if allowed:
        if code in REFUSALS or code in TRANSPORT:
            return f"must pass authorisation, {got}"
        return None
    if role is None:
        return None if code == grpc.StatusCode.UNAUTHENTICATED else f"must be UNAUTHENTICATED, {got}"
    if code != grpc.StatusCode.PERMISSION_DENIED:
        return f"must be PERMISSION_DENIED, {got}"
    if f"'{name}'" not in details and f"'{role}'" not in details:
        return f"refusal does not name the caller's name or role, {got}"
    return None


# --- the matrix ---------------------------------------------------------------------------------


def test_tables_cover_every_rpc_of_every_service() -> None:
    for t in TARGETS:
        rpcs = {m.name for m in t.service.methods}
        assert set(t.table) == rpcs, (
            f"{t.label}: RPCs without a row: {sorted(rpcs - set(t.table))}; "
            f"rows without an RPC: {sorted(set(t.table) - rpcs)}"
        )
        for rpc, rule in t.table.items():
            assert set(rule.roles) <= set(ROLES), f"{t.label}.{rpc}: unknown role in {rule.roles}"
    # Every identity role is a real one, and each cell is decided by the table alone.
    assert {r for _, r in IDENTITIES if r is not None} == set(ROLES)


@pytest.mark.parametrize("target", TARGETS, ids=[t.label for t in TARGETS])
def test_authorisation_matrix(world: tuple[LiveWorld, Callers], target: Target) -> None:
    _, callers = world
    wrong: list[str] = []
    for method in target.service.methods:
        rule = target.table[method.name]
        for name, role in IDENTITIES:
            allowed = rule.allows(name, role, target.owner)
            code, details = call(callers.stub(name, target), method, minimal_request(target, method))
            problem = judge(allowed, name, role, code, details)
            if problem:
                wrong.append(f"{target.label}.{method.name} as {name} ({role or 'no identity'}): {problem}")
    assert not wrong, f"{len(wrong)} cell(s) of the authorisation matrix are wrong:\n" + "\n".join(wrong)
    # A refused caller never stops a server: afterwards a permitted caller still gets a normal answer.
    if target.owner is not None:
        assert (
            callers.stub("zone", target).Describe(party_pb2.DescribeRequest(), timeout=TIMEOUT).party
            == target.owner
        )
    elif target.label == "audit":
        assert callers.stub("auditor-1", target).VerifyLog(audit_pb2.VerifyLogRequest(), timeout=TIMEOUT).ok
    else:
        code, _ = call(
            callers.stub("oem", target),
            target.service.methods_by_name["GetSession"],
            zone_pb2.GetSessionRequest(session_id="x"),
        )
        assert code == grpc.StatusCode.NOT_FOUND


# --- certificates that must not get through the handshake ---------------------------------------

# Per server: a call an identity of this role may make, for the handshake tests and their control.
PROBES: dict[str, tuple[str, str, str, Any]] = {
    # label: (identity, role, rpc, request)
    "zone": ("oem", "brand", "GetSession", zone_pb2.GetSessionRequest(session_id="x")),
    "audit": ("zone", "zone", "VerifyLog", audit_pb2.VerifyLogRequest()),
    **{f"party:{p}": ("zone", "zone", "Describe", party_pb2.DescribeRequest()) for p in PARTIES},
}


def _probe(
    w: LiveWorld, t: Target, tls: TlsFiles, server_name: str | None = None
) -> tuple[grpc.StatusCode, str]:
    _, _, rpc, request = PROBES[t.label]
    ch = secure_channel(t.address(w), tls, server_name=server_name or t.server_name)
    try:
        return call(t.stub(ch), t.service.methods_by_name[rpc], request)
    finally:
        ch.close()


def test_foreign_and_expired_certificates_fail_the_handshake(
    world: tuple[LiveWorld, Callers], tmp_path: Path
) -> None:
    w, _ = world
    rogue_dir, expired_dir = tmp_path / "rogue", tmp_path / "expired"
    expired_dir.mkdir()
    rogue_ca = certs.create_ca(rogue_dir, days=1, common_name="Rogue CA")
    right_ca = certs.load_ca(w.certs)
    ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    for identity, role in {(i, r) for i, r, _, _ in PROBES.values()}:
        # The same name and role the genuine caller has: only the certificate's issuer or validity differs.
        certs.issue(rogue_dir, identity, role, rogue_ca, days=1)
        certs.issue(expired_dir, identity, role, right_ca, days=1, not_before=ten_days_ago)
    wrong: list[str] = []
    for t in TARGETS:
        identity = PROBES[t.label][0]
        for why, cert_dir in (("another CA", rogue_dir), ("expired", expired_dir)):
            # The client trusts the real CA, so the server is accepted: only the client's certificate is at fault.
            tls = TlsFiles(
                ca=w.certs / "ca.pem", cert=cert_dir / f"{identity}.pem", key=cert_dir / f"{identity}.key"
            )
            code, details = _probe(w, t, tls)
            if code != grpc.StatusCode.UNAVAILABLE:
                wrong.append(
                    f"{t.label}.{PROBES[t.label][2]} as {identity} with a certificate ({why}): "
                    f"got {code.name}: {details!r}"
                )
        # Control: the genuine certificate for the same identity gets through.
        code, details = _probe(w, t, w.tls(identity))
        if code in REFUSALS or code in TRANSPORT:
            wrong.append(
                f"{t.label}.{PROBES[t.label][2]} as {identity} with its genuine certificate: "
                f"got {code.name}: {details!r}"
            )
    assert not wrong, "\n".join(wrong)


def test_client_refuses_a_server_certified_for_another_name(world: tuple[LiveWorld, Callers]) -> None:
    # The caller side of a wrong-name certificate: a client that expects another name than the
    # server's certificate carries refuses it at the handshake. (The zone naming this when a
    # party agent is impersonated is covered by test_authz.py's
    # test_zone_refuses_a_party_whose_certificate_has_another_name.)
    w, _ = world
    wrong: list[str] = []
    for t in TARGETS:
        identity = PROBES[t.label][0]
        expected_elsewhere = "media-a" if t.server_name != "media-a" else "oem"
        code, details = _probe(w, t, w.tls(identity), server_name=expected_elsewhere)
        if code != grpc.StatusCode.UNAVAILABLE:
            wrong.append(
                f"{t.label}.{PROBES[t.label][2]} as {identity} pinning '{expected_elsewhere}': "
                f"got {code.name}: {details!r}"
            )
    assert not wrong, "\n".join(wrong)
