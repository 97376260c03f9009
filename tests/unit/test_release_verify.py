"""What a receiver checks (protocols.release.verify_release) and what an auditor's tool signs
(audit.keys.digest_to_sign): each accepts the honest case and names every forged one."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.keys import ShownRelease, digest_to_sign
from protocols.errors import VerificationFailed
from protocols.release import (
    VERDICT_APPROVE,
    VERDICT_REJECT,
    Approval,
    TrustedAuditors,
    canonical_json,
    decision_message,
    header_for,
    verify_release,
)


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


A, B, C = (Ed25519PrivateKey.generate() for _ in range(3))
PAYLOAD = canonical_json({"job": "intersection_stats", "overlap": 1234})
HEADER = header_for("rel-1", "ses-1", "intersection_stats", "aggregate", "oem", PAYLOAD)
TRUST = TrustedAuditors({raw(A): "a", raw(B): "b"}, quorum=2)


def approve(key: Ed25519PrivateKey, header=HEADER, name: str = "x") -> Approval:
    return Approval(name, raw(key), key.sign(decision_message(VERDICT_APPROVE, header.digest())))


def test_a_quorum_of_trusted_approvals_over_the_recomputed_digest_verifies():
    v = verify_release(HEADER, PAYLOAD, [approve(A), approve(B)], TRUST)
    assert v.ok and v.approved_by == ("a", "b") and v.digest == HEADER.digest().hex()


@pytest.mark.parametrize(
    "case",
    ["none", "untrusted", "below_quorum", "same_key_twice", "replayed", "altered", "reject_as_approve"],
)
def test_every_forgery_is_refused_with_its_reason(case):
    other = header_for("rel-2", "ses-1", "intersection_stats", "aggregate", "oem", PAYLOAD)
    payload, approvals = PAYLOAD, [approve(A), approve(B)]
    expect = "required"
    if case == "none":
        approvals = []
    elif case == "untrusted":
        approvals = [approve(A), approve(C, name="b")]  # a trusted name on an untrusted key
        expect = "you do not trust"
    elif case == "below_quorum":
        approvals = [approve(A)]
    elif case == "same_key_twice":
        approvals = [approve(A), approve(A, name="b")]
    elif case == "replayed":
        approvals = [approve(A, other), approve(B, other)]  # valid signatures, another release
        expect = "not valid over this release"
    elif case == "altered":
        payload = canonical_json({"job": "intersection_stats", "overlap": 1})
        expect = "altered or swapped"
    elif case == "reject_as_approve":
        approvals = [
            Approval("a", raw(A), A.sign(decision_message(VERDICT_REJECT, HEADER.digest()))),
            approve(B),
        ]
        expect = "not valid over this release"
    v = verify_release(HEADER, payload, approvals, TRUST)
    assert not v.ok and expect in v.reason, v.reason


def test_a_quorum_above_the_trusted_keys_never_verifies():
    v = verify_release(HEADER, PAYLOAD, [approve(A)], TrustedAuditors({raw(A): "a"}, quorum=2))
    assert not v.ok and "no release could ever meet it" in v.reason


def test_an_aggregate_whose_summary_is_not_its_payload_is_refused():
    header = header_for("rel-1", "ses-1", "intersection_stats", "aggregate", "oem", PAYLOAD, summary=b"{}")
    v = verify_release(header, PAYLOAD, [approve(A, header), approve(B, header)], TRUST)
    assert not v.ok and "shown its payload" in v.reason


def shown(payload: bytes = PAYLOAD, **kw) -> ShownRelease:
    fields = {
        "release_id": "rel-1",
        "session_id": "ses-1",
        "job": "intersection_stats",
        "kind": "aggregate",
        "recipient": "oem",
        "summary_json": payload.decode(),
    }
    return ShownRelease(**{**fields, **kw})


def test_the_auditor_signs_the_digest_of_what_was_shown():
    assert digest_to_sign("rel-1", shown(), HEADER.digest().hex()) == HEADER.digest()
    summary = canonical_json({"rows": 3, "grade_counts": {"A": 1}})
    row = header_for("rel-1", "ses-1", "lead_rating_score", "row_scores", "oem", b'{"grades":"ABC"}', summary)
    got = digest_to_sign(
        "rel-1",
        shown(summary, job="lead_rating_score", kind="row_scores", payload_sha256=row.payload_sha256),
        row.digest().hex(),
    )
    assert got == row.digest()


def test_the_auditor_refuses_a_digest_that_is_not_of_what_was_shown():
    other_payload = canonical_json({"job": "intersection_stats", "overlap": 7})
    secret = (
        header_for("rel-1", "ses-1", "intersection_stats", "aggregate", "oem", other_payload).digest().hex()
    )
    with pytest.raises(VerificationFailed, match="hands over digest"):
        digest_to_sign("rel-1", shown(), secret)  # content shown ≠ content the digest covers
    with pytest.raises(VerificationFailed, match="answered with rel-2"):
        digest_to_sign("rel-1", shown(release_id="rel-2"), HEADER.digest().hex())
    with pytest.raises(VerificationFailed, match="payload SHA-256"):
        digest_to_sign(
            "rel-1", shown(payload_sha256=hashlib.sha256(other_payload).hexdigest()), HEADER.digest().hex()
        )
    with pytest.raises(VerificationFailed, match="no payload hash"):
        digest_to_sign("rel-1", shown(kind="row_scores"), HEADER.digest().hex())
