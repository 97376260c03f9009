"""The auditor console's rules, one piece at a time: its guards (host, access token, CSRF, origin,
confirmation), its signing rule (only a digest it displayed, recomputed by the CLI's function),
its answers to bad input, and its bind address. The audit service is a stand-in here; the
end-to-end run against the real servers in a real browser is tests/integration/test_console.py."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import grpc
import pytest

from audit.client import AuditCallError
from audit.keys import generate
from audit.reviewed import ReviewLog
from deploy.console.desk import ConsoleDesk, charged_epsilon
from deploy.console.server import ConsoleApp, make_server
from proto.audit.v1 import audit_pb2
from protocols.errors import InvalidInput
from protocols.release import canonical_json, header_for

PAYLOAD = {"job": "intersection_stats", "parties": [{"party": "oem", "people": 1200}], "k_min": 50}


def _record(release_id: str = "rel-1", summary: str | None = None, status: str = "pending") -> Any:
    body = canonical_json(PAYLOAD)
    header = header_for(release_id, "ses-1", "intersection_stats", "aggregate", "oem", body)
    return audit_pb2.ReleaseRecord(
        release_id=release_id,
        session_id="ses-1",
        job="intersection_stats",
        kind="aggregate",
        recipient="oem",
        requester="oem",
        digest=header.digest().hex(),
        status=status,
        summary_json=body.decode() if summary is None else summary,
        payload_sha256=header.payload_sha256,
        created_at_ms=1_000,
        checks=[
            audit_pb2.Check(name="k_min", passed=True, detail="every cohort holds at least k=50 people"),
            audit_pb2.Check(
                name="dp_budget", passed=True, detail="ε 1 charged to 'oem'; 9 of 10 left this period"
            ),
        ],
    )


class FakeAudit:
    """What the console calls on the audit service, answering from memory."""

    def __init__(self, record: Any, review_log: ReviewLog) -> None:
        self.record = record
        self.review_log = review_log
        self.signed: list[tuple[str, str, str]] = []
        self.down = False

    def get_release(self, release_id: str) -> Any:
        if self.down:
            raise AuditCallError("GetRelease", grpc.StatusCode.UNAVAILABLE, "connection refused")
        return audit_pb2.GetReleaseResponse(release=self.record)

    def list_pending(self) -> list[Any]:
        return [self.record]

    def get_budget(self, requester: str, policy_digest: str = "") -> Any:
        return audit_pb2.GetBudgetResponse(spent=1, limit=10, charges=1, policy_digest="")

    def get_policy(self, digest: str) -> Any:
        return audit_pb2.GetPolicyResponse(recorded=False)

    def list_releases(self, statuses: Any = (), requester: str = "", limit: int = 0) -> list[Any]:
        return []

    def approve(self, release_id: str, key_path: Path, me: str, expect: str) -> Any:
        self.signed.append(("approve", release_id, expect))
        return audit_pb2.DecideResponse(status="approved", entry_seq=7)

    def reject(self, release_id: str, reason: str, key_path: Path, me: str, expect: str) -> Any:
        self.signed.append(("reject", release_id, expect))
        return audit_pb2.DecideResponse(status="rejected", entry_seq=8)


@pytest.fixture
def app(tmp_path: Path) -> tuple[ConsoleApp, FakeAudit]:
    generate(tmp_path / "auditor-1")
    fake = FakeAudit(_record(), ReviewLog(tmp_path / "reviewed.log"))
    desk = ConsoleDesk(fake, "auditor-1", tmp_path / "auditor-1.key", clock=lambda: 61_000)  # type: ignore[arg-type]
    return ConsoleApp(desk, 8123, token="tok"), fake


HOST = {"Host": "127.0.0.1:8123", "Cookie": "zhongli_console=tok"}
POST = {**HOST, "Origin": "http://127.0.0.1:8123", "Content-Type": "application/x-www-form-urlencoded"}


def _form(**fields: str) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def test_login_swaps_the_token_for_a_strict_cookie_and_everything_else_needs_it(app) -> None:
    a, _ = app
    r = a.handle("GET", "/login?token=tok", {"Host": "127.0.0.1:8123"})
    assert r.status == 303 and r.headers["Location"] == "/"
    assert r.headers["Set-Cookie"] == "zhongli_console=tok; HttpOnly; SameSite=Strict; Path=/"
    assert a.handle("GET", "/login?token=nope", {"Host": "127.0.0.1:8123"}).status == 403
    refused = a.handle("GET", "/", {"Host": "127.0.0.1:8123"})
    assert refused.status == 403 and "auditor-1" not in refused.body  # nothing about the auditor
    assert a.handle("GET", "/", {**HOST, "Cookie": "zhongli_console=toc"}).status == 403
    assert a.handle("GET", "/", {**HOST, "Host": "evil.example:8123"}).status == 403  # DNS rebinding
    assert a.handle("GET", "/", {**HOST, "Host": "localhost:8123"}).status == 200
    queue = a.handle("GET", "/", HOST)
    assert queue.status == 200 and 'data-release="rel-1"' in queue.body and "1 min" in queue.body


def test_release_page_shows_the_recomputed_digest_and_the_rendered_section(app) -> None:
    a, fake = app
    r = a.handle("GET", "/release/rel-1", HOST)
    assert r.status == 200
    assert f'id="digest">{fake.record.digest}<' in r.body
    assert 'id="rendered"' in r.body and "Your people" in r.body  # the report's intersection section
    assert "<script" not in r.body.lower()
    assert fake.review_log.has("rel-1", fake.record.digest)  # remembered as `audit show` does
    assert charged_epsilon(fake.record) == 1.0


def test_a_decision_needs_the_csrf_token_our_origin_and_a_displayed_digest(app) -> None:
    a, fake = app
    page = a.handle("GET", "/release/rel-1", HOST).body
    assert f'name="csrf" value="{a.csrf}"' in page
    digest = fake.record.digest
    ok = _form(csrf=a.csrf, digest=digest, reason="not for this campaign")
    assert a.handle("POST", "/release/rel-1/reject", POST, _form(digest=digest, reason="x")).status == 403
    assert (
        a.handle("POST", "/release/rel-1/reject", {**POST, "Origin": "http://evil.example"}, ok).status == 403
    )
    assert a.handle("POST", "/release/rel-1/reject", {**POST, "Origin": "null"}, ok).status == 403
    assert (
        a.handle("POST", "/release/rel-1/reject", {**POST, "Sec-Fetch-Site": "same-site"}, ok).status == 403
    )
    no_origin = {k: v for k, v in POST.items() if k != "Origin"}
    assert a.handle("POST", "/release/rel-1/reject", no_origin, ok).status == 403
    other = _form(csrf=a.csrf, digest="ab" * 32, reason="x")
    r = a.handle("POST", "/release/rel-1/reject", POST, other)
    assert r.status == 400 and "has not displayed content with digest" in r.body
    r = a.handle("POST", "/release/rel-1/reject", POST, _form(csrf=a.csrf, digest=digest, reason="  "))
    assert r.status == 400 and "say why" in r.body
    assert fake.signed == []
    r = a.handle("POST", "/release/rel-1/reject", POST, ok)
    assert r.status == 303 and r.headers["Location"] == "/release/rel-1?done=reject&entry=8&status=rejected"
    assert fake.signed == [("reject", "rel-1", digest)]


def test_an_approval_needs_the_confirmation_page_and_its_tick(app) -> None:
    a, fake = app
    digest = fake.record.digest
    # Before the page displayed the release, nothing can be signed.
    r = a.handle("POST", "/release/rel-1/approve", POST, _form(csrf=a.csrf, digest=digest, confirm="yes"))
    assert r.status == 400 and fake.signed == []
    confirm = a.handle("GET", f"/release/rel-1/approve?digest={digest}", HOST)
    assert confirm.status == 200 and 'id="confirm"' in confirm.body and digest in confirm.body
    r = a.handle("POST", "/release/rel-1/approve", POST, _form(csrf=a.csrf, digest=digest))
    assert r.status == 400 and "confirm the approval" in r.body and fake.signed == []
    r = a.handle("POST", "/release/rel-1/approve", POST, _form(csrf=a.csrf, digest=digest, confirm="yes"))
    assert r.status == 303 and fake.signed == [("approve", "rel-1", digest)]
    # A confirmation page for content other than what the release now hashes to is refused.
    stale = a.handle("GET", f"/release/rel-1/approve?digest={'cd' * 32}", HOST)
    assert stale.status == 409 and "now hashes to" in stale.body


def test_content_that_does_not_hash_to_the_services_digest_is_not_signable(app) -> None:
    a, fake = app
    fake.record = _record(summary='{"job": "intersection_stats", "parties": []}')  # not what the digest binds
    r = a.handle("GET", "/release/rel-1", HOST)
    assert r.status == 200 and 'id="mismatch"' in r.body and 'id="approve-link"' not in r.body
    assert 'id="cannot-sign"' in r.body
    r = a.handle(
        "POST", "/release/rel-1/approve", POST, _form(csrf=a.csrf, digest=fake.record.digest, confirm="yes")
    )
    assert r.status == 400 and fake.signed == []


def test_bad_input_and_a_lost_audit_service_get_clear_pages_and_the_console_keeps_serving(app) -> None:
    a, fake = app
    assert a.handle("GET", "/release/..%2Fetc", HOST).status == 400
    assert a.handle("GET", "/release/" + "x" * 65, HOST).status == 400
    assert a.handle("GET", "/nowhere", HOST).status == 404
    assert a.handle("PUT", "/", HOST).status == 405
    assert (
        a.handle("POST", "/release/rel-1/reject", {**POST, "Content-Type": "text/plain"}, b"csrf=x").status
        == 400
    )
    fake.down = True
    r = a.handle("GET", "/release/rel-1", HOST)
    assert r.status == 502 and "UNAVAILABLE" in r.body
    fake.down = False
    assert a.handle("GET", "/release/rel-1", HOST).status == 200


def test_desk_refuses_a_reason_over_the_services_limit(app) -> None:
    a, fake = app
    a.handle("GET", "/release/rel-1", HOST)
    with pytest.raises(InvalidInput, match="keep it under 2000"):
        a.desk.reject("rel-1", fake.record.digest, "x" * 2001)


def test_the_server_binds_loopback_only_and_sends_its_security_headers(app) -> None:
    a, _ = app
    server, served = make_server(a.desk, 0)
    assert server.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = served.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "GET", "/", headers={"Host": f"127.0.0.1:{port}", "Cookie": f"zhongli_console={served.token}"}
        )
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 200
        csp = r.getheader("Content-Security-Policy") or ""
        assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.getheader("X-Frame-Options") == "DENY" and r.getheader("Cache-Control") == "no-store"
        assert served.login_url.startswith(f"http://127.0.0.1:{port}/login?token=")
    finally:
        server.shutdown()
        server.server_close()


def test_cli_mistakes_are_one_line_before_anything_listens(tmp_path: Path, capsys) -> None:
    from deploy import cli

    missing = tmp_path / "nope.key"
    code = cli.main(["audit", "console", "--key", str(missing), "--topology", "t.yaml", "--as", "auditor-1"])
    assert code == 1
    assert (
        capsys.readouterr().err.strip()
        == f"zhongli: cannot read the auditor key {missing}: No such file or directory"
    )
    code = cli.main(["audit", "console", "--key", str(missing), "--port", "70000"])
    assert code == 1
    assert capsys.readouterr().err.strip() == "zhongli: --port must be between 0 and 65535, not 70000"
