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

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
import yaml

from audit.config import AuditConfig
from audit.service import serve as audit_serve
from deploy.launcher import Cluster
from deploy.topology import load_topology
from deploy.world import PartySpec, write_world
from neutral_zone.client import ZoneCallError, ZoneClient
from neutral_zone.config import ZoneConfig
from neutral_zone.service import build as build_zone
from parties.agent import PartyAgent
from parties.agent import serve as party_serve
from parties.config import PartyConfig
from proto.party import serde as party_serde
from proto.party.v1 import party_pb2 as ppb
from proto.party.v1 import party_pb2_grpc as ppb_grpc
from proto.zone import serde as zone_serde
from proto.zone.v1 import zone_pb2 as zpb
from protocols.errors import ConfigError
from protocols.psi import POINT_BYTES, hash_ids
from tests.integration.helpers import phones, write_party_csv
from transport.config import load_config
from transport.rpc import TlsFiles, secure_channel

REPO = Path(__file__).resolve().parents[2]
PARTY_ROLES = ("brand", "media", "data_provider")
COLUMNS = [
    {"name": "score", "role": "feature", "type": "numeric", "share": True},
    {"name": "segment", "role": "feature", "type": "categorical", "share": True},
]
WAIT = 60.0  # generous: polling ends as soon as the state is reached


# --- a world of real servers in this process --------------------------------------------------


def write_ids_csv(path: Path, ids: list[str], seed: int = 0) -> None:
    write_party_csv(path, ids, np.random.default_rng(seed))


def small_world(
    root: Path,
    parties: tuple[tuple[str, str], ...] = (("oem", "brand"), ("media-a", "media"), ("provider", "data_provider")),
    size: int = 200,
    universe: int = 300,
    k_min: int = 50,
    extra: dict[str, dict[str, Any]] | None = None,
    zone_extra: dict[str, Any] | None = None,
    seed: int = 1,
) -> Path:
    """CSV files (overlaps well above k_min by default) and a ``write_world`` around them."""
    rng = np.random.default_rng(seed)
    pool = phones(rng, universe)
    specs = []
    root.mkdir(parents=True, exist_ok=True)
    for name, role in parties:
        csv = root / f"{name}.csv"
        write_ids_csv(csv, sorted(rng.choice(pool, size=size, replace=False).tolist()), seed)
        specs.append(PartySpec(name, role, csv, columns=COLUMNS, extra=(extra or {}).get(name, {})))
    return write_world(root / "world", specs, k_min=k_min, zone_extra=zone_extra)


class LiveWorld:
    """Audit service, every party agent and the zone of a ``write_world`` directory, in-process."""

    def __init__(self, topology: Path, skip: tuple[str, ...] = ()) -> None:
        self.dir = topology.parent
        self.topology = load_topology(topology)
        self.certs = self.topology.certs_dir
        self.zone_cfg = load_config(self.dir / "zone.yaml", ZoneConfig)
        self.audit_cfg = load_config(self.dir / "audit.yaml", AuditConfig)
        self.party_cfgs: dict[str, PartyConfig] = {
            p.name: load_config(p.config, PartyConfig)
            for p in self.topology.participants
            if p.role in PARTY_ROLES and p.config is not None
        }
        self.servers: list[grpc.Server] = []
        self.agents: dict[str, PartyAgent] = {}
        self._channels: list[grpc.Channel] = []
        self._clients: list[ZoneClient] = []
        try:
            self.audit_server, _ = audit_serve(self.audit_cfg)
            self.servers.append(self.audit_server)
            for name, cfg in self.party_cfgs.items():
                if name in skip:
                    continue
                server, _, agent = party_serve(cfg)
                self.servers.append(server)
                self.agents[name] = agent
            self.zone_server, self.zone_port, self.zone = build_zone(self.zone_cfg)
            self.zone_server.start()
            self.servers.append(self.zone_server)
        except BaseException:
            self.close()
            raise
        self.zone_address = f"127.0.0.1:{self.zone_port}"

    def tls(self, name: str, certs: Path | None = None) -> TlsFiles:
        d = certs or self.certs
        return TlsFiles(ca=d / "ca.pem", cert=d / f"{name}.pem", key=d / f"{name}.key")

    def client(self, name: str = "oem", tls: TlsFiles | None = None) -> ZoneClient:
        c = ZoneClient(self.zone_address, tls or self.tls(name), server_name="zone", timeout=30)
        self._clients.append(c)
        return c

    def party_stub(self, party: str, as_name: str = "zone") -> ppb_grpc.PartyAgentStub:
        ch = secure_channel(self.party_cfgs[party].listen, self.tls(as_name), server_name=party)
        self._channels.append(ch)
        return ppb_grpc.PartyAgentStub(ch)

    def zone_session(self, sid: str) -> Any:
        return self.zone._sessions[sid]

    def assert_purged(self, sid: str) -> None:
        """The zone holds no table of ``sid`` and no party holds any state for it."""
        s = self.zone._sessions.get(sid)
        if s is not None:
            assert s.tables == {}
            assert all(r.payload is None for r in s.releases.values())
        for name, agent in self.agents.items():
            # EndSession runs right after the zone marks the session failed: poll, don't race.
            poll(lambda a=agent: sid not in a.sessions._sessions, f"party '{name}' purges {sid}")

    def audit_events(self, sid: str) -> list[dict[str, Any]]:
        """The session events the audit service logged for ``sid`` (read-only, from its file)."""
        con = sqlite3.connect(f"file:{self.audit_cfg.db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT body FROM entries WHERE kind = 'session_event' ORDER BY seq").fetchall()
        finally:
            con.close()
        bodies = [json.loads(b) for (b,) in rows]
        return [b for b in bodies if b["session_id"] == sid]

    def close(self) -> None:
        for c in self._clients:
            c.close()
        for ch in self._channels:
            ch.close()
        for s in reversed(self.servers):
            s.stop(0)


@pytest.fixture
def live() -> Iterator[Callable[..., LiveWorld]]:
    worlds: list[LiveWorld] = []

    def start(topology: Path, **kw: Any) -> LiveWorld:
        w = LiveWorld(topology, **kw)
        worlds.append(w)
        return w

    yield start
    for w in worlds:
        w.close()


def poll(cond: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(0.05)


def state_of(resp: Any) -> str:
    return zone_serde.SESSION_STATE_NAME.get(resp.state, "unspecified")


def wait_settled(client: ZoneClient, sid: str, timeout: float = WAIT) -> Any:
    """Poll GetSession until the session is no longer preparing; returns the last response."""

    def settled() -> Any:
        r = client.session(sid)
        return r if state_of(r) != "preparing" else None

    return poll(settled, f"session {sid} settles", timeout)


def open_and_settle(client: ZoneClient, parties: list[str]) -> tuple[str, Any]:
    sid = client.open_session(parties)
    return sid, wait_settled(client, sid)


def assert_failed(resp: Any, *needles: str) -> str:
    assert state_of(resp) == "failed", f"expected failed, got {state_of(resp)} ({resp.error or resp.progress})"
    for n in needles:
        assert n in resp.error, f"{n!r} not in error: {resp.error}"
    # What reaches the requester names a party's file, never where it lives on the party's disk.
    assert "/tmp" not in resp.error and "columns there" not in resp.error, resp.error
    return str(resp.error)


def assert_ready_again(w: LiveWorld, parties: list[str]) -> str:
    """A second, valid session over ``parties`` reaches READY: the zone and the parties serve."""
    c = w.client("oem")
    sid, resp = open_and_settle(c, parties)
    assert state_of(resp) == "ready", resp.error
    assert {p.party for p in resp.parties} == set(parties)
    return sid


ALL3 = ["oem", "media-a", "provider"]


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
        cwd=REPO, capture_output=True, text=True, timeout=60,
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
        pd.DataFrame({"phone": ids, "score": np.arange(len(ids), dtype=float)}).to_csv(files[name], index=False)
    cols = [{"name": "score", "role": "feature", "type": "numeric", "share": True}]
    specs = [PartySpec(n, r, files[n], columns=cols) for n, r in (("oem", "brand"), ("media-a", "media"), ("media-b", "media"))]
    topo = load_topology(write_world(tmp_path / "world", specs, zone_extra={"chunk_rows": 2048}))
    with Cluster(topo, tmp_path / "logs") as cluster:
        zone = topo.get("zone")
        assert zone.address is not None
        c = ZoneClient(zone.address, topo.tls_for("oem").files(), timeout=30)
        try:
            sid = c.open_session(["oem", "media-a", "media-b"])
            poll(
                lambda: state_of(r := c.session(sid)) != "preparing" or r.progress.startswith("joint pseudonyms"),
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


def call_code(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(ZoneCallError) as err:
        fn(*args, **kw)
    return err.value.grpc_code, str(err.value)


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
        c._call("run job", c.stub.RunJob, zpb.RunJobRequest(session_id=sid, job="intersection_stats", params_json="{not json"))
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
    sid = "ses-direct-1"
    stub.Prepare(ppb.PrepareRequest(session_id=sid, id_type=ppb.ID_TYPE_PHONE, ttl_seconds=60), timeout=30)
    points = bytes(hash_ids(sid, "phone", ["13800000000", "13900000000", "13700000000"]))
    header = ppb.BlindRequest(header=ppb.BlindHeader(session_id=sid, origin_party="oem"))

    def blind(msgs: list[ppb.BlindRequest]) -> list[ppb.BlindResponse]:
        return list(stub.Blind(iter(msgs), timeout=30))

    def refused(msgs: list[ppb.BlindRequest]) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as err:
            blind(msgs)
        return err.value

    chunk = ppb.BlindRequest(chunk=ppb.PointChunk(count=3, points=points))
    e = refused([chunk])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in e.details()
    e = refused([])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in e.details()
    e = refused([header, header])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in e.details()
    e = refused([header, ppb.BlindRequest(chunk=ppb.PointChunk(count=3, points=points[:-1]))])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "3 points" in e.details() and "95 bytes" in e.details()
    e = refused([ppb.BlindRequest(header=ppb.BlindHeader(session_id="ses-unknown", origin_party="oem")), chunk])
    assert e.code() == grpc.StatusCode.NOT_FOUND and "ses-unknown" in e.details()

    # A low-order point is reported by position, not an error; the others are blinded.
    zero = bytes(POINT_BYTES)
    out = blind([header, ppb.BlindRequest(chunk=ppb.PointChunk(count=4, points=points[:64] + zero + points[64:]))])
    assert len(out) == 1
    assert out[0].chunk.count == 4
    assert party_serde.positions_from_bytes(out[0].degenerate_positions, 4).tolist() == [2]
    blinded = out[0].chunk.points
    assert blinded[64:96] == zero and all(blinded[i : i + 32] != zero for i in (0, 32, 96))

    # Other bad requests on the same agent.
    with pytest.raises(grpc.RpcError) as err:
        list(stub.StreamColumns(ppb.StreamColumnsRequest(session_id=sid, columns=["score", "secret"]), timeout=30))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "secret" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.Prepare(ppb.PrepareRequest(session_id="ses-direct-2", id_type=ppb.ID_TYPE_EMAIL), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "email" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.Prepare(ppb.PrepareRequest(session_id="", id_type=ppb.ID_TYPE_PHONE), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Still serving: a well-formed stream works and the session ends cleanly.
    assert blind([header, chunk])[0].chunk.count == 3
    assert stub.EndSession(ppb.EndSessionRequest(session_id=sid), timeout=30).existed
    assert sid not in w.agents["media-a"].sessions._sessions
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
        agent.Prepare(ppb.PrepareRequest(session_id=sid, id_type=ppb.ID_TYPE_PHONE), ctx)

    def cut_after_first(stream: Iterator[Any], sid: str) -> None:
        next(stream)
        assert agent.sessions.end(sid)
        ctx.code = None
        with pytest.raises(_Aborted):
            next(stream)
        assert ctx.code == grpc.StatusCode.NOT_FOUND and sid in ctx.details, (ctx.code, ctx.details)

    prepared("ses-cut-1")
    cut_after_first(agent.StreamBlinded(ppb.StreamBlindedRequest(session_id="ses-cut-1", chunk_rows=64), ctx), "ses-cut-1")

    prepared("ses-cut-2")
    pts = bytes(hash_ids("x", "phone", [f"1380000{i:04d}" for i in range(128)]))
    reqs = [
        ppb.BlindRequest(header=ppb.BlindHeader(session_id="ses-cut-2", origin_party="oem")),
        *(ppb.BlindRequest(chunk=ppb.PointChunk(count=64, points=pts[i : i + 64 * POINT_BYTES])) for i in (0, 64 * POINT_BYTES)),
    ]
    cut_after_first(agent.Blind(iter(reqs), ctx), "ses-cut-2")

    prepared("ses-cut-3")
    stream = agent.StreamColumns(ppb.StreamColumnsRequest(session_id="ses-cut-3", chunk_rows=64), ctx)
    assert next(stream).WhichOneof("msg") == "header"
    cut_after_first(stream, "ses-cut-3")
    assert len(agent.sessions) == 0
    assert_ready_again(w, ["oem", "media-a"])
