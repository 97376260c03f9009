"""The chain's signed statements and the signer checks, on real certificates from a test CA."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from cryptography import x509

from deploy import certs
from parties.chain_auth import ChainSigner, ChainVerifier, check_route
from proto.party import serde
from proto.party.v1 import party_pb2 as pb
from protocols.chain import ChainHeader, Hop, chunk_statement, verify
from protocols.errors import PeerNotAllowed, ProtocolError

HEADER = ChainHeader("ses-1", "oem", 1000, 2, (Hop("media-a", b"\x01" * 16), Hop("provider", b"\x02" * 16)))


def test_every_header_field_changes_the_statement():
    variants = [
        replace(HEADER, session_id="ses-2"),
        replace(HEADER, origin="media-a"),
        replace(HEADER, points=1001),
        replace(HEADER, chunks=3),
        replace(HEADER, route=HEADER.route[::-1]),
        replace(HEADER, route=(Hop("media-a", b"\x03" * 16), HEADER.route[1])),
        replace(HEADER, route=HEADER.route[:1]),
    ]
    digests = {HEADER.digest(), *(v.digest() for v in variants)}
    assert len(digests) == len(variants) + 1
    # Framing: moving bytes between adjacent fields gives another statement.
    assert ChainHeader("ab", "c", 1, 1, ()).statement() != ChainHeader("a", "bc", 1, 1, ()).statement()


def test_chunk_statement_binds_header_position_index_and_points():
    d = HEADER.digest()
    base = chunk_statement(d, 1, 0, b"x" * 64)
    others = [
        chunk_statement(replace(HEADER, points=1).digest(), 1, 0, b"x" * 64),
        chunk_statement(d, 2, 0, b"x" * 64),
        chunk_statement(d, 1, 1, b"x" * 64),
        chunk_statement(d, 1, 0, b"x" * 63 + b"y"),
    ]
    assert base not in others and len(set(others)) == len(others)


def test_positions_and_senders():
    assert (
        HEADER.position_of("media-a") == 1
        and HEADER.position_of("provider") == 2
        and HEADER.position_of("oem") == 0
    )
    assert HEADER.sender_at(1) == "oem" and HEADER.sender_at(2) == "media-a"


def test_header_round_trips_through_the_wire_and_its_signature_verifies(tmp_path):
    certs.init_for(tmp_path, [("oem", "brand"), ("media-a", "media")], days=2)
    signer = ChainSigner((tmp_path / "oem.pem").read_bytes(), (tmp_path / "oem.key").read_bytes())
    m = pb.ChainHeader.FromString(signer.header(HEADER).SerializeToString())
    back = serde.chain_header_from_pb(m)
    assert back == HEADER
    v = ChainVerifier((tmp_path / "ca.pem").read_bytes(), "media-a")
    who = v.signer(m.certificate, "oem", "the header")
    assert (who.name, who.role) == ("oem", "brand")
    assert verify(who.key, m.signature, back.statement())
    assert not verify(who.key, m.signature, replace(back, points=999).statement())
    sig = signer.chunk(HEADER.digest(), 0, 0, b"p" * 32)
    assert verify(who.key, sig, chunk_statement(HEADER.digest(), 0, 0, b"p" * 32))
    assert not verify(who.key, sig, chunk_statement(HEADER.digest(), 0, 1, b"p" * 32))


def test_signer_checks_ca_dates_role_name_and_self(tmp_path):
    ca = certs.create_ca(tmp_path / "ca", days=2, ca_dir=tmp_path / "ca-private")
    for name, role in (("oem", "brand"), ("zone", "zone"), ("auditor-1", "auditor"), ("media-a", "media")):
        certs.issue(tmp_path / "ca", name, role, ca, days=2)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for folder, start in (("old", past), ("early", future)):  # expired; not yet valid
        (tmp_path / folder).mkdir()
        certs.issue(
            tmp_path / folder,
            "provider",
            "data_provider",
            ca,
            days=1 if start == past else 3,
            not_before=start,
        )
    other = certs.create_ca(tmp_path / "other", days=2, ca_dir=tmp_path / "other-private")
    certs.issue(tmp_path / "other", "oem", "brand", other, days=2)
    v = ChainVerifier((tmp_path / "ca" / "ca.pem").read_bytes(), "media-a")

    def pem(d: str, name: str) -> bytes:
        return (tmp_path / d / f"{name}.pem").read_bytes()

    assert v.signer(pem("ca", "oem"), "oem", "x").name == "oem"
    for cert, expected, needle in (
        (b"", "oem", "no certificate"),
        (b"not a certificate", "oem", "no readable certificate"),
        (pem("other", "oem"), "oem", "does not trust"),
        (pem("old", "provider"), "provider", "not valid now"),
        (pem("early", "provider"), "provider", "not valid now"),
        (pem("ca", "zone"), "zone", "not by a party"),
        (pem("ca", "auditor-1"), "auditor-1", "not by a party"),
        (pem("ca", "media-a"), "media-a", "this party itself"),
        (pem("ca", "oem"), "provider", "must be signed by 'provider', not by 'oem'"),
    ):
        with pytest.raises(PeerNotAllowed, match=needle):
            v.signer(cert, expected, "x")
    # A CA certificate is no signer either.
    with pytest.raises(PeerNotAllowed):
        v.signer(pem("ca", "ca"), "Zhongli CA", "x")


def test_signer_refuses_a_key_of_another_certificate(tmp_path):
    certs.init_for(tmp_path, [("oem", "brand"), ("media-a", "media")], days=2)
    with pytest.raises(Exception, match="does not belong"):
        ChainSigner((tmp_path / "oem.pem").read_bytes(), (tmp_path / "media-a.key").read_bytes())


def test_routes_the_origin_signs():
    check_route(HEADER.route, "oem")
    for route, needle in (
        ((Hop("oem", b"n"),), "itself"),
        ((Hop("media-a", b"n"), Hop("media-a", b"m")), "twice"),
        ((Hop("media a", b"n"),), "letters"),
    ):
        with pytest.raises(ProtocolError, match=needle):
            check_route(route, "oem")
    for hops in (
        [pb.ChainHop(party="media-a", nonce=b"")],
        [pb.ChainHop(party="", nonce=b"n")],
        [pb.ChainHop(party="media-a", nonce=b"n" * 65)],
    ):
        with pytest.raises(ProtocolError, match="nonce"):
            serde.route_from_pb(hops)


def test_a_revocation_hook_refuses_a_revoked_signer(tmp_path):
    certs.init_for(tmp_path, [("oem", "brand"), ("media-a", "media")], days=2)
    oem = (tmp_path / "oem.pem").read_bytes()
    revoked_serial = x509.load_pem_x509_certificate(oem).serial_number
    v = ChainVerifier(
        (tmp_path / "ca.pem").read_bytes(), "media-a", revoked=lambda c: c.serial_number == revoked_serial
    )
    with pytest.raises(PeerNotAllowed, match="revoked"):
        v.signer(oem, "oem", "x")
    assert ChainVerifier((tmp_path / "ca.pem").read_bytes(), "media-a").signer(oem, "oem", "x").name == "oem"
