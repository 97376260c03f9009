"""The zone verifies auditor signatures itself: a compromised audit service that reports forged,
misdirected, duplicate or unknown-key approvals cannot let a release out."""

from __future__ import annotations

from types import SimpleNamespace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from neutral_zone.releases import APPROVED, PENDING, REJECTED, Gate, Release
from protocols.policy import Policy, PolicyAuditor
from protocols.release import sign_decision


def raw(k):
    return k.public_key().public_bytes_raw()


class FakeAudit:
    """Stands in for the audit service's GetRelease answer only."""

    def __init__(self, decisions):
        self.decisions = decisions

    def GetRelease(self, req, timeout):
        return SimpleNamespace(release=SimpleNamespace(status="pending"), decisions=self.decisions)


def gate_with(keys, decisions, quorum=2):
    policy = Policy(
        name="t",
        auditors=[PolicyAuditor(name=n, public_key=raw(k).hex()) for n, k in keys.items()],
        quorum=quorum,
    )
    g = Gate.__new__(Gate)
    g.policy, g.auditor_keys, g.approvals_required, g.timeout = policy, policy.auditor_keys(), quorum, 1
    g.audit = FakeAudit(decisions)
    return g


def decision(name, key, verdict, digest, reason=""):
    return SimpleNamespace(
        auditor=name,
        public_key=raw(key),
        signature=sign_decision(key, verdict, digest),
        verdict=verdict,
        reason=reason,
    )


def release():
    r = Release(
        "rel-1",
        "ses-1",
        "job",
        kind="aggregate",
        recipient="oem",
        status=PENDING,
        digest=b"\x01" * 32,
        payload=b"{}",
    )
    return r


def test_forged_misdirected_duplicate_and_unknown_approvals_do_not_count():
    a1, a2, stranger = (
        Ed25519PrivateKey.generate(),
        Ed25519PrivateKey.generate(),
        Ed25519PrivateKey.generate(),
    )
    keys = {"auditor-1": a1, "auditor-2": a2}
    rel = release()
    bad = [
        decision("auditor-1", a1, "approve", rel.digest),  # valid
        decision("auditor-1", a1, "approve", rel.digest),  # the same auditor twice
        decision("auditor-2", a2, "approve", b"\x02" * 32),  # signed another digest
        SimpleNamespace(
            auditor="auditor-2", public_key=raw(a2), signature=b"\x00" * 64, verdict="approve", reason=""
        ),  # forged
        decision("auditor-2", stranger, "approve", rel.digest),  # auditor-2's name, someone else's key
        decision("intruder", stranger, "approve", rel.digest),  # unknown auditor
    ]
    gate_with(keys, bad).refresh(rel)
    assert rel.status == PENDING and [a.auditor for a in rel.approvals] == ["auditor-1"]
    gate_with(keys, [*bad, decision("auditor-2", a2, "approve", rel.digest)]).refresh(rel)
    assert rel.status == APPROVED and {a.auditor for a in rel.approvals} == {"auditor-1", "auditor-2"}


def test_an_approval_signature_replayed_as_a_rejection_does_not_reject():
    a1, a2 = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    rel = release()
    replay = decision("auditor-1", a1, "approve", rel.digest)
    replay.verdict = "reject"
    gate_with({"auditor-1": a1, "auditor-2": a2}, [replay]).refresh(rel)
    assert rel.status == PENDING and rel.payload is not None
    gate_with(
        {"auditor-1": a1, "auditor-2": a2}, [decision("auditor-1", a1, "reject", rel.digest, "too granular")]
    ).refresh(rel)
    assert rel.status == REJECTED and rel.payload is None and "too granular" in rel.error
