"""The auditor's console in a real browser against the real servers (issue 16).

Real servers with mutual TLS (audit service, party agents, zone); the console as its own process
(`zhongli audit console`); headless Chromium (Debian's package) driven through Playwright. The
browser walks the queue, a release page, an approval with its confirmation and a rejection with a
reason; the test asserts what the pages show and what the audit log records (and the CLI's
`audit verify` accepts), and that the console's guards hold: 127.0.0.1 only, no access without the
token, no POST without the CSRF token or from another origin, no key material on any page.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audit.client import AuditClient
from audit.keys import digest_to_sign, load_private, signed_message
from deploy import cli
from protocols.release import signature_valid
from tests.integration.live import ALL3, LiveWorld, open_and_settle, small_world, state_of

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium here refuses its own connections without the background-networking flags.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000


def _playwright() -> Any:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no browser: {CHROMIUM} is missing (Debian: apt-get install chromium; `make test` installs it as root)"
        )
    return pytest.importorskip(
        "playwright.sync_api", reason="the browser driver is missing: pip install -e '.[dev]' (playwright)"
    )


@pytest.fixture
def browser_page() -> Iterator[Any]:
    sync_api = _playwright()
    with sync_api.sync_playwright() as pw:
        # Playwright's launch gives Chromium a fresh, empty profile of its own (--user-data-dir).
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            browser.close()


class Console:
    """`zhongli audit console` as its own process."""

    def __init__(self, topology: Path, name: str, key: Path, review_log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ZHONGLI_REVIEW_LOG": str(review_log)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deploy.cli",
                "audit",
                "console",
                "--topology",
                str(topology),
                "--as",
                name,
                "--key",
                str(key),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"open (http://127\.0\.0\.1:(\d+)/login\?token=(\S+))", line)
        if m is None:
            self.proc.kill()
            raise AssertionError(
                f"the console did not print its address: {line!r} {self.proc.stderr.read()!r}"
            )
        self.login_url, self.port, self.token = m.group(1), int(m.group(2)), m.group(3)
        self.origin = f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: str = "",
        headers: dict[str, str] | None = None,
        cookie: bool = True,
    ) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"Host": f"127.0.0.1:{self.port}"}
        if cookie:
            h["Cookie"] = f"zhongli_console={self.token}"
        if body:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        h.update(headers or {})
        try:
            conn.request(method, path, body=body.encode(), headers=h)
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err


def _decisions(db: Path, release_id: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT body FROM entries WHERE kind = 'release_decided' AND release_id = ? ORDER BY seq",
            (release_id,),
        ).fetchall()
    finally:
        con.close()
    return [json.loads(b) for (b,) in rows]


def _listens_on_loopback_only(port: int) -> bool:
    """The listening socket on ``port`` is bound to 127.0.0.1 (from /proc/net/tcp, not the code)."""
    locals_ = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                addr, hex_port = fields[1].rsplit(":", 1)
                if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                    locals_.append(addr)
    return locals_ == ["0100007F"]


def _as_auditor(w: LiveWorld) -> AuditClient:
    audit = w.topology.by_role("audit")[0]
    assert audit.address is not None
    return AuditClient(audit.address, w.tls("auditor-1"), audit.name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Big enough that the profile's cells clear k=50 in every group, so its TGI chart is drawn.
    return small_world(tmp_path_factory.mktemp("console"), size=1500, universe=2000)


def test_console_review_approve_reject_in_a_browser(world: Path, live, browser_page, tmp_path: Path) -> None:
    page = browser_page
    w: LiveWorld = live(world)
    root = world.parent
    oem = w.client("oem")
    sid, resp = open_and_settle(oem, ALL3)
    assert state_of(resp) == "ready", resp.error
    to_approve = oem.run_job(sid, "intersection_stats", {})
    to_reject = oem.run_job(sid, "profile", {"segment": {"segment": ["a", "b"]}})
    refused = oem.run_job(sid, "profile", {"segment": {"segment": ["a"]}, "recipient": "media-a"})
    assert oem.wait_computed(to_approve)["status"] == "pending"
    assert oem.wait_computed(to_reject)["status"] == "pending"
    assert oem.wait_computed(refused)["status"] == "refused"

    key = root / "keys" / "auditor-1.key"
    console = Console(world, "auditor-1", key, tmp_path / "reviewed.log")
    try:
        # 127.0.0.1 only: the kernel's table says so, and another loopback address is refused.
        assert _listens_on_loopback_only(console.port)
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.2", console.port), timeout=5),
        ):
            pass

        # --- the queue -------------------------------------------------------------------------
        page.goto(console.login_url)
        assert page.url == console.origin + "/"  # the token became a cookie; the address lost it
        rows = page.locator("#queue tbody tr")
        assert rows.count() == 2
        cells = page.locator(f'#queue tr[data-release="{to_approve}"] td').all_inner_texts()
        job, requester, recipient, kind, checks_cell, _age, approvals = cells[1:]
        assert (job, requester, recipient, kind) == ("intersection_stats", "oem", "oem", "aggregate")
        assert re.fullmatch(r"(\d+)/\1 passed", checks_cell), cells
        assert approvals == "0"
        pages = [page.content()]
        assert page.locator(f'#queue tr[data-release="{to_reject}"]').count() == 1

        # --- a release page: rendered as its recipient will see it, its checks and cost ---------
        page.click(f"#queue a[href='/release/{to_reject}']")
        assert page.locator("#status").inner_text() == "pending"
        pages.append(page.content())
        rendered = page.locator("#rendered section.release")
        assert rendered.count() == 1
        assert page.locator("#rendered svg.chart").count() >= 1  # the report's TGI chart, drawn
        assert "TGI" in page.locator("#rendered").inner_text()
        with _as_auditor(w) as me:
            record = me.get_release(to_reject).release
        mine = digest_to_sign(to_reject, AuditClient.shown(record), record.digest).hex()
        assert page.locator("#digest").inner_text() == mine
        checks = page.locator("#checks tbody tr").all_inner_texts()
        assert len(checks) == len(record.checks) and all(c.startswith("pass") for c in checks)
        assert "ε = 1" in page.locator("#cost").inner_text()
        assert "of 10000 spent this period" in page.locator("#cost").inner_text()
        session = page.locator("#session").inner_text()
        assert to_approve in session and refused in session
        assert "differencing" in page.locator("#differencing").inner_text()

        # --- reject with a reason ---------------------------------------------------------------
        page.fill("#reason", "segment b is not part of this campaign")
        page.click("#reject")
        assert "Rejection signed as auditor-1" in page.locator("#flash").inner_text()
        assert page.locator("#status").inner_text() == "rejected"
        [rejection] = _decisions(w.audit_cfg.db, to_reject)
        assert (
            rejection["verdict"] == "reject"
            and rejection["reason"] == "segment b is not part of this campaign"
        )
        assert rejection["auditor"] == "auditor-1" and rejection["status"] == "rejected"

        # --- approve, with the explicit confirmation --------------------------------------------
        page.goto(f"{console.origin}/release/{to_approve}")
        assert "Your people" in page.locator("#rendered").inner_text()  # the intersection section
        digest = page.locator("#digest").inner_text()
        page.click("#approve-link")
        assert digest in page.locator("#confirm-text").inner_text()
        pages.append(page.content())
        assert _decisions(w.audit_cfg.db, to_approve) == []  # the link alone signs nothing
        page.click("#sign")  # unticked: the browser does not send the form
        assert page.locator("#confirm-panel").count() == 1 and _decisions(w.audit_cfg.db, to_approve) == []
        page.check("#confirm")
        page.click("#sign")
        assert "Approval signed as auditor-1" in page.locator("#flash").inner_text()
        assert page.locator("#status").inner_text() == "approved"
        [approval] = _decisions(w.audit_cfg.db, to_approve)
        raw = load_private(key).public_key().public_bytes_raw()
        assert approval["auditor"] == "auditor-1" and approval["public_key"] == raw.hex()
        assert signature_valid(
            raw, bytes.fromhex(approval["signature"]), signed_message("approve", bytes.fromhex(digest))
        )
        # The recipient verifies the quorum itself, and gets its result.
        fetched = oem.fetch_release(to_approve)
        assert fetched.header.digest().hex() == digest
        assert [a.auditor for a in fetched.approvals] == ["auditor-1"]

        # --- refused and failed, the log, the policy --------------------------------------------
        page.click("header a[href='/refusals']")
        pages.append(page.content())
        refused_row = page.locator(f'#refusals tr[data-release="{refused}"]').inner_text()
        assert "refused" in refused_row and "media-a" in refused_row
        page.click("header a[href='/log']")
        assert page.locator("#log-status").inner_text().startswith("verified")
        pages.append(page.content())
        with _as_auditor(w) as me:
            head = me.verify().head_hash
        assert page.locator("#head-hash").inner_text() == head
        assert (
            "reject → rejected: segment b is not part of this campaign" in page.locator("#log").inner_text()
        )
        page.click("header a[href='/policy']")
        assert page.locator("#policy-digest").inner_text() == w.zone.gate.policy_digest
        assert "(you; your key matches)" in page.locator("#policy").inner_text()
        pages.append(page.content())

        # --- the guards, as a raw client ----------------------------------------------------------
        _, html = console.request("GET", f"/release/{to_approve}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf is None  # decided: no form any more
        # a third, pending release to try forged decisions on
        third = oem.run_job(sid, "intersection_stats", {"parties": ["oem", "media-a"]})
        assert oem.wait_computed(third)["status"] == "pending"
        code, html = console.request("GET", f"/release/{third}")
        assert code == 200
        pages.append(html)
        token = re.search(r'name="csrf" value="([^"]+)"', html)
        shown = re.search(r'id="digest">([0-9a-f]{64})<', html)
        assert token is not None and shown is not None
        form = f"digest={shown.group(1)}&reason=forged"
        same = {"Origin": console.origin}
        assert console.request("POST", f"/release/{third}/reject", form, same)[0] == 403  # no CSRF token
        form_ok = f"csrf={token.group(1)}&{form}"
        evil = {"Origin": "http://evil.example"}
        assert console.request("POST", f"/release/{third}/reject", form_ok, evil)[0] == 403  # another origin
        assert console.request("POST", f"/release/{third}/reject", form_ok, {})[0] == 403  # no origin
        cross = {"Origin": console.origin, "Sec-Fetch-Site": "cross-site"}
        assert console.request("POST", f"/release/{third}/reject", form_ok, cross)[0] == 403
        assert console.request("POST", f"/release/{third}/reject", form_ok, same, cookie=False)[0] == 403
        assert console.request("GET", "/", cookie=False)[0] == 403  # no access token
        rebound = {"Host": f"attacker.example:{console.port}"}
        assert console.request("GET", "/", headers=rebound)[0] == 403  # DNS rebinding
        # An approval without the confirmation, and one for a digest the console never showed.
        approve_form = f"csrf={token.group(1)}&digest={shown.group(1)}"
        code, html = console.request("POST", f"/release/{third}/approve", approve_form, same)
        assert code == 400 and "confirm the approval" in html
        code, html = console.request(
            "POST", f"/release/{third}/approve", f"csrf={token.group(1)}&digest={'0' * 64}&confirm=yes", same
        )
        assert code == 400 and "has not displayed content with digest" in html
        assert _decisions(w.audit_cfg.db, third) == []  # nothing forged reached the log
        code, html = console.request("GET", "/release/..%2Fetc")
        assert code == 400
        assert console.request("GET", "/")[0] == 200  # and it still serves

        # The CLI's verify accepts the log the console wrote into.
        assert cli.main(["audit", "verify", "--db", str(w.audit_cfg.db)]) == 0
    finally:
        code, out, err = console.stop()
    # The signing key never left: no page and no line the console printed carries it.
    pem = key.read_text()
    body = "".join(pem.strip().splitlines()[1:-1])
    private = load_private(key).private_bytes_raw().hex()
    for text in [*pages, out, err]:
        assert body not in text and private not in text
    assert code == 0, err
    assert console.token not in err  # the request log leaves the login query out
