"""Bad input, end to end: through a real zone session opened by the OEM, every data or protocol
mistake ends the session FAILED with a message naming the problem, the failed session's data is
purged at the zone and at every party, and every server keeps serving (a second, valid session
reaches READY afterwards).

The servers run in this process (party agents, audit service, zone; real gRPC with mTLS on the
ports a ``write_world`` directory names), except for the disconnect test, which needs real
processes to SIGKILL. ``LiveWorld`` and the polling helpers are reused by ``test_authz.py`` and
``test_zone_sessions.py``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
import yaml

from deploy.configs import PartySpec
from deploy.tooling.launcher import Cluster
from deploy.tooling.world import write_world
from deploy.topology import load_topology
from neutral_zone.client import ZoneCallError, ZoneClient
from parties.config import PartyConfig
from proto.party.v1 import party_pb2 as ppb
from proto.zone.v1 import zone_pb2 as zpb
from protocols.errors import ConfigError
from protocols.psi import POINT_BYTES, hash_ids
from tests.integration.chain import Forger, Stream, blind, blind_requests, origin_stream, route
from tests.integration.helpers import phones
from tests.integration.live import (  # noqa: F401
    ALL3,
    COLUMNS,
    PARTY_ROLES,
    REPO,
    WAIT,
    LiveWorld,
    assert_failed,
    assert_ready_again,
    call_code,
    open_and_settle,
    poll,
    small_world,
    state_of,
    wait_settled,
    write_ids_csv,
)
from transport.config import load_config

# --- 1-4: data that does not match its config --------------------------------------------------


def test_missing_id_column_fails_session_naming_column_and_file(tmp_path, live):
    topo = small_world(tmp_path)
    bad = tmp_path / "media-a.csv"
    good = bad.read_bytes()
    frame = pd.read_csv(bad, dtype=str).rename(columns={"phone": "mobile"})
    frame.to_csv(bad, index=False)
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    err = assert_failed(resp, "media-a", "'phone'", bad.name)
    assert "FAILED_PRECONDITION" in err
    w.assert_purged(sid)
    bad.write_bytes(good)  # the operator fixes the file; the same agent serves the next session
    assert_ready_again(w, ALL3)


def test_non_numeric_values_name_column_and_lines(tmp_path, live):
    topo = small_world(tmp_path)
    bad = tmp_path / "provider.csv"
    good = bad.read_bytes()
    frame = pd.read_csv(bad, dtype=str)
    frame.loc[[4, 9], "score"] = "n/a?"  # data rows 4 and 9 are file lines 6 and 11
    frame.to_csv(bad, index=False)
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    err = assert_failed(resp, "provider", "'score'", "numeric", bad.name, "lines 6, 11")
    assert "n/a?" not in err  # values never appear in messages
    w.assert_purged(sid)
    bad.write_bytes(good)
    assert_ready_again(w, ALL3)


def test_config_column_not_in_csv_is_named(tmp_path, live):
    cols = [*COLUMNS, {"name": "income_band", "role": "feature", "type": "categorical", "share": True}]
    topo = small_world(tmp_path, extra={"oem": {"columns": cols}})
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    assert_failed(resp, "oem", "'income_band'", "named in the config", "oem.csv")
    w.assert_purged(sid)
    # The agent still serves: add the column to the file and the same agent prepares fine.
    csv = tmp_path / "oem.csv"
    frame = pd.read_csv(csv, dtype=str)
    frame["income_band"] = "mid"
    frame.to_csv(csv, index=False)
    assert_ready_again(w, ALL3)


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "is empty"), (b"phone,score,segment\n", "no rows")],
    ids=["zero-bytes", "header-only"],
)
def test_empty_files(tmp_path, live, content, needle):
    topo = small_world(tmp_path)
    bad = tmp_path / "media-a.csv"
    good = bad.read_bytes()
    bad.write_bytes(content)
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    assert_failed(resp, "media-a", needle, bad.name)
    w.assert_purged(sid)
    bad.write_bytes(good)
    assert_ready_again(w, ALL3)


def _no_valid_ids(frame: pd.DataFrame) -> pd.DataFrame:
    frame["phone"] = "not-a-phone"  # e.g. id_type: phone pointed at an email column
    return frame


def _infinite(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[2], "score"] = "inf"
    frame.loc[[7], "score"] = "1e999"
    return frame


def _spaced_header(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"score": "score "})


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (_no_valid_ids, ("ID column 'phone'", "valid phone ID", "id_type")),
        (_infinite, ("'score'", "finite", "lines 4, 9")),
        (_spaced_header, ("'score'", "did you mean 'score '")),
    ],
    ids=["no-valid-id", "infinity", "spaced-header"],
)
def test_more_data_mistakes_are_named(tmp_path, live, mutate, needles):
    topo = small_world(tmp_path)
    bad = tmp_path / "provider.csv"
    good = bad.read_bytes()
    mutate(pd.read_csv(bad, dtype=str)).to_csv(bad, index=False)
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    assert_failed(resp, "provider", bad.name, *needles)
    w.assert_purged(sid)
    bad.write_bytes(good)
    assert_ready_again(w, ALL3)


def test_undecodable_bytes_name_the_line(tmp_path, live):
    topo = small_world(tmp_path)
    bad = tmp_path / "oem.csv"
    lines = bad.read_bytes().split(b"\n")
    lines[150] = lines[150].replace(b",", b",\xd6\xd0", 1)  # GBK bytes in a UTF-8 file, line 151
    bad.write_bytes(b"\n".join(lines))
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    assert_failed(resp, "oem", bad.name, "not valid utf-8", "line 151")
    w.assert_purged(sid)


def test_parquet_mistakes_are_located_by_row(tmp_path, live):
    topo = small_world(tmp_path)
    frame = pd.read_csv(tmp_path / "media-a.csv", dtype=str)
    frame.loc[[0, 5], "score"] = "?"
    frame.to_parquet(tmp_path / "media-a.parquet")
    cfg = yaml.safe_load((topo.parent / "party-media-a.yaml").read_text())
    cfg["source"] = {"format": "parquet", "path": str(tmp_path / "media-a.parquet")}
    (topo.parent / "party-media-a.yaml").write_text(yaml.safe_dump(cfg))
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    err = assert_failed(resp, "media-a", "'score'", "rows 1, 6")
    assert "lines" not in err  # a Parquet file has no lines
    w.assert_purged(sid)


def test_party_not_running_fails_session_naming_it(tmp_path, live):
    w = live(small_world(tmp_path), skip=("media-a",))
    sid, resp = open_and_settle(w.client("oem"), ALL3)
    assert_failed(resp, "party 'media-a'", "unreachable", "UNAVAILABLE")
    w.assert_purged(sid)
    assert_ready_again(w, ["oem", "provider"])


# --- 5: a config with an unknown field -----------------------------------------------------------


def test_config_typo_is_named_at_load_and_by_the_cli(tmp_path):
    topo = small_world(tmp_path, extra={"media-a": {"colums": COLUMNS}})
    path = topo.parent / "party-media-a.yaml"
    with pytest.raises(ConfigError) as err:
        load_config(path, PartyConfig)
    assert "colums" in str(err.value) and "unknown field" in str(err.value)
    assert str(path) in str(err.value)

    proc = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "party", "serve", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "colums" in proc.stderr and "unknown field" in proc.stderr
    assert "LISTENING" not in proc.stdout


# --- 6: a party disconnects mid-stream (real processes) -------------------------------------------


def test_party_killed_mid_chain_fails_session_and_zone_keeps_serving(tmp_path):
    # media-a holds enough IDs that its points take seconds to pass through the other parties'
    # Blind; it is killed while the chain runs. The other two are small, so the follow-up session
    # over them is quick.
    rng = np.random.default_rng(6)
    pool = phones(rng, 62_000)
    big, small = pool[:60_000], pool[58_000:]
    files = {}
    for name, ids in (("oem", small[:1500]), ("media-a", big), ("media-b", small[500:])):
        files[name] = tmp_path / f"{name}.csv"
        pd.DataFrame({"phone": ids, "score": np.arange(len(ids), dtype=float)}).to_csv(
            files[name], index=False
        )
    cols = [{"name": "score", "role": "feature", "type": "numeric", "share": True}]
    specs = [
        PartySpec(n, r, files[n], columns=cols)
        for n, r in (("oem", "brand"), ("media-a", "media"), ("media-b", "media"))
    ]
    topo = load_topology(write_world(tmp_path / "world", specs, zone_extra={"chunk_rows": 2048}))
    with Cluster(topo, tmp_path / "logs") as cluster:
        zone = topo.get("zone")
        assert zone.address is not None
        c = ZoneClient(zone.address, topo.tls_for("oem").files(), timeout=30)
        try:
            sid = c.open_session(["oem", "media-a", "media-b"])
            poll(
                lambda: (
                    state_of(r := c.session(sid)) != "preparing" or r.progress.startswith("joint pseudonyms")
                ),
                "the pseudonym chain runs",
            )
            assert state_of(c.session(sid)) == "preparing", "the chain finished before the kill: use more IDs"
            victim = next(r for r in cluster.running if r.participant.name == "media-a")
            victim.process.kill()
            victim.process.wait(30)
            resp = wait_settled(c, sid)
            err = assert_failed(resp, "media-a")
            assert "UNAVAILABLE" in err or "disconnected" in err, err
            # The zone keeps serving: the failed session is still readable, a new one works.
            assert state_of(c.session(sid)) == "failed"
            sid2, resp2 = open_and_settle(c, ["oem", "media-b"])
            assert state_of(resp2) == "ready", resp2.error
            rel = c.run_job(sid2, "intersection_stats")
            assert c.wait_computed(rel, timeout=WAIT)["status"] == "pending"
        finally:
            c.close()


# --- 7: bad requests to the zone -----------------------------------------------------------------


def test_bad_zone_requests_get_clear_statuses(tmp_path, live, monkeypatch):
    topo = small_world(tmp_path, parties=(("oem", "brand"), ("media-a", "media")))
    w = live(topo)
    c = w.client("oem")

    for bad_sid in ("ses-0000000000000000", "", "x" * 300):
        code, msg = call_code(c.session, bad_sid)
        assert code == grpc.StatusCode.NOT_FOUND, msg
    code, msg = call_code(c.run_job, "ses-nope", "intersection_stats")
    assert code == grpc.StatusCode.NOT_FOUND and "ses-nope" in msg
    code, msg = call_code(c.close_session, "ses-nope")
    assert code == grpc.StatusCode.NOT_FOUND and "ses-nope" in msg
    code, msg = call_code(c.release, "rel-nope")
    assert code == grpc.StatusCode.NOT_FOUND and "rel-nope" in msg

    code, msg = call_code(c.open_session, ["oem", "media-zz"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "media-zz" in msg
    code, msg = call_code(c.open_session, ["oem"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "two parties" in msg
    code, msg = call_code(c.open_session, ["oem", "media-a"], id_type="fax")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "fax" in msg

    # RunJob before READY: hold media-a's data load until the job was refused, so the session is
    # deterministically still preparing.
    import parties.session as party_session

    gate = threading.Event()
    real_load = party_session.load

    def held_load(cfg: PartyConfig) -> Any:
        if cfg.name == "media-a":
            gate.wait(WAIT)
        return real_load(cfg)

    monkeypatch.setattr(party_session, "load", held_load)
    sid = c.open_session(["oem", "media-a"])
    code, msg = call_code(c.run_job, sid, "intersection_stats")
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "preparing" in msg
    gate.set()
    assert state_of(wait_settled(c, sid)) == "ready"

    code, msg = call_code(c.run_job, sid, "no_such_job")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no_such_job" in msg and "intersection_stats" in msg
    with pytest.raises(ZoneCallError) as err:
        c._call(
            "run job",
            c.stub.RunJob,
            zpb.RunJobRequest(session_id=sid, job="intersection_stats", params_json="{not json"),
        )
    assert err.value.grpc_code == grpc.StatusCode.INVALID_ARGUMENT and "not JSON" in str(err.value)
    code, msg = call_code(c.run_job, sid, "intersection_stats", {"partys": ["oem"]})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "partys" in msg

    # Still serving: the valid job runs.
    rel = c.run_job(sid, "intersection_stats")
    assert c.wait_computed(rel, timeout=WAIT)["status"] == "pending"


# --- 8: malformed protocol input straight to a party agent ---------------------------------------


def test_malformed_blind_streams_are_refused_and_agent_keeps_serving(tmp_path, live):
    topo = small_world(tmp_path, parties=(("oem", "brand"), ("media-a", "media")))
    w = live(topo)
    stub = w.party_stub("media-a", as_name="zone")
    origin = w.party_stub("oem", as_name="zone")

    def prepared(sid: str) -> Stream:
        """A session at both agents, and the OEM's signed stream routed through media-a."""
        nonce = stub.Prepare(w.prepare_request(sid, ppb.ID_TYPE_PHONE, 60), timeout=30).chain_nonce
        origin.Prepare(w.prepare_request(sid, ppb.ID_TYPE_PHONE, 60), timeout=30)
        return origin_stream(origin, sid, route(("media-a", nonce)))

    def ended(sid: str) -> None:
        for s in (stub, origin):
            assert s.EndSession(ppb.EndSessionRequest(session_id=sid), timeout=30).existed

    def refused(msgs: list[ppb.BlindRequest]) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Blind(iter(msgs), timeout=30))
        return err.value

    sid = "ses-direct-1"
    honest = prepared(sid)
    header, *_chunks = blind_requests(sid, honest)
    points = bytes(hash_ids(sid, "phone", ["13800000000", "13900000000", "13700000000"]))
    chunk = ppb.BlindRequest(chunk=ppb.PointChunk(count=3, points=points))
    e = refused([chunk])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in e.details()
    e = refused([])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in e.details()
    unknown = ppb.BlindRequest(
        header=ppb.BlindHeader(session_id="ses-unknown", origin_party="oem", origin=honest.header)
    )
    e = refused([unknown, chunk])
    assert e.code() == grpc.StatusCode.NOT_FOUND and "ses-unknown" in e.details()
    # Each refusal below comes after the header was accepted, which spends the OEM's one pass
    # through media-a in that session: each gets a session of its own.
    e = refused([header, header])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in e.details()
    ended(sid)
    sid = "ses-direct-2"
    header = blind_requests(sid, prepared(sid))[0]
    e = refused([header, ppb.BlindRequest(chunk=ppb.PointChunk(count=3, points=points[:-1]))])
    assert (
        e.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "3 points" in e.details()
        and "95 bytes" in e.details()
    )
    ended(sid)

    # A low-order point is reported by position, not an error; the others are blinded. (No honest
    # origin sends one — its own Prepare drops them — so the OEM's key signs one here, standing in
    # for an origin whose hash landed on a low-order point.)
    sid = "ses-direct-3"
    nonce = stub.Prepare(w.prepare_request(sid, ppb.ID_TYPE_PHONE, 60), timeout=30).chain_nonce
    zero = bytes(POINT_BYTES)
    odd = Forger(w.certs / "oem.pem", w.certs / "oem.key").stream(
        sid, "oem", points[:64] + zero + points[64:], route(("media-a", nonce))
    )
    out = blind(stub, sid, odd)
    assert out.degenerate == [[2]]
    blinded = out.points()
    assert len(blinded) == 4 * POINT_BYTES
    assert blinded[64:96] == zero and all(blinded[i : i + 32] != zero for i in (0, 32, 96))
    assert stub.EndSession(ppb.EndSessionRequest(session_id=sid), timeout=30).existed

    # Other bad requests on the same agent.
    sid = "ses-direct-4"
    honest = prepared(sid)
    with pytest.raises(grpc.RpcError) as err:
        list(
            stub.StreamColumns(
                ppb.StreamColumnsRequest(session_id=sid, columns=["score", "secret"]), timeout=30
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "secret" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.Prepare(w.prepare_request("ses-direct-5", ppb.ID_TYPE_EMAIL), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "email" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.Prepare(w.prepare_request("", ppb.ID_TYPE_PHONE), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Still serving: a well-formed stream works and the session ends cleanly.
    assert len(blind(stub, sid, honest).points()) == len(honest.points()) > 0
    ended(sid)
    assert sid not in w.agents["media-a"].sessions._sessions
    assert len(w.agents["media-a"].sessions) == 0
    assert_ready_again(w, ["oem", "media-a"])


class _Aborted(Exception):
    pass


class _ZoneContext:
    """Just enough of a grpc.ServicerContext to drive a servicer generator by hand: the caller is
    the zone's certificate, and ``abort`` records the status like gRPC does (by raising)."""

    def __init__(self, cert_pem: bytes) -> None:
        self.pem = cert_pem
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self.pem]}

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise _Aborted(details)


def test_session_ended_mid_stream_stops_the_stream_instead_of_sending_zeros(tmp_path, live):
    """EndSession or the TTL reaper may purge a session while one of its streams is still being
    produced; the purge zero-fills the buffers, so the stream must stop with NOT_FOUND rather than
    go on sending zeroed points and columns that look valid. Driven by hand (no gRPC buffering in
    between), so the interleaving is exact."""
    w = live(small_world(tmp_path, parties=(("oem", "brand"), ("media-a", "media"))))
    agent = w.agents["media-a"]
    ctx = _ZoneContext((w.certs / "zone.pem").read_bytes())

    def prepared(sid: str) -> None:
        agent.Prepare(w.prepare_request(sid, ppb.ID_TYPE_PHONE), ctx)

    def cut_after_first(stream: Iterator[Any], sid: str, skip: int = 1) -> None:
        for _ in range(skip):  # a chain stream's header (or a Blind stream's certificate), then one chunk
            next(stream)
        assert agent.sessions.end(sid)
        ctx.code = None
        with pytest.raises(_Aborted):
            next(stream)
        assert ctx.code == grpc.StatusCode.NOT_FOUND and sid in ctx.details, (ctx.code, ctx.details)

    prepared("ses-cut-1")
    cut_after_first(
        agent.StreamBlinded(ppb.StreamBlindedRequest(session_id="ses-cut-1", chunk_rows=64), ctx),
        "ses-cut-1",
        2,
    )

    prepared("ses-cut-2")
    oem = w.agents["oem"]
    oem.Prepare(w.prepare_request("ses-cut-2", ppb.ID_TYPE_PHONE), ctx)
    hops = route(("media-a", agent.sessions.get("ses-cut-2").chain_nonce))
    sent = list(
        oem.StreamBlinded(ppb.StreamBlindedRequest(session_id="ses-cut-2", chunk_rows=64, route=hops), ctx)
    )
    assert len(sent) >= 3  # the header and at least two chunks
    reqs = blind_requests(
        "ses-cut-2", Stream(sent[0].header, sent[0].header.certificate, [m.chunk for m in sent[1:]])
    )
    cut_after_first(agent.Blind(iter(reqs), ctx), "ses-cut-2", 2)
    assert oem.sessions.end("ses-cut-2")

    prepared("ses-cut-3")
    stream = agent.StreamColumns(ppb.StreamColumnsRequest(session_id="ses-cut-3", chunk_rows=64), ctx)
    assert next(stream).WhichOneof("msg") == "header"
    cut_after_first(stream, "ses-cut-3")
    assert len(agent.sessions) == 0
    assert_ready_again(w, ["oem", "media-a"])
