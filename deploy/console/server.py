"""The console's web server: the standard library's, on 127.0.0.1 only, with its guards.

:class:`ConsoleApp` is the whole application as a function of one request (method, target,
headers, body) to one :class:`Response`, so its rules are tested without a socket;
:func:`make_server` puts it behind :class:`http.server.ThreadingHTTPServer`.

Who may use it. The server binds 127.0.0.1 and nothing else (no option changes that), but any
local user or any web page the auditor's browser opens can reach a loopback port, so:

- an **access token** (random, printed once in the address the console shows at start-up) is
  swapped at ``/login`` for an HttpOnly, SameSite=Strict cookie that every request must carry;
  without it a page answers 403, so another user of the machine cannot sign with this key;
- the ``Host`` header must name this console (127.0.0.1 or localhost on its port): a DNS-rebinding
  page's requests carry its own host name and are refused;
- every POST must carry the form's **CSRF token** and an ``Origin`` of this console, and a
  ``Sec-Fetch-Site`` (when the browser sends one) of ``same-origin``;
- pages forbid scripts, frames, external loads and form targets elsewhere
  (Content-Security-Policy), and are not cached; the request log never prints the query string
  (the login address carries the token).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from audit.client import AuditCallError
from deploy.console.desk import ConsoleDesk, release_id_of
from deploy.console.pages import log_body, policy_body, queue_body, refusals_body
from deploy.console.release_page import confirm_body, release_body
from deploy.console.shell import flash, page
from deploy.report.fmt import esc
from protocols.errors import InvalidInput, VerificationFailed, ZhongliError

log = logging.getLogger(__name__)

BIND = "127.0.0.1"  # the console is for the auditor's own machine only
COOKIE = "zhongli_console"
MAX_BODY = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
DONE = {"approve": "Approval signed", "reject": "Rejection signed"}


@dataclass
class Response:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Refused(ZhongliError):
    """A request the console's guards turn away (wrong host, no access cookie, no CSRF token,
    another origin)."""

    code = "console_refused"
    status = "PERMISSION_DENIED"


class ConsoleApp:
    """The console, request by request.

    Args:
        desk: What it shows and how it signs.
        port: The port it listens on (for the ``Host`` and ``Origin`` checks).
        token: The access token (default: a fresh random one).
    """

    def __init__(self, desk: ConsoleDesk, port: int, token: str | None = None) -> None:
        self.desk = desk
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)
        self.origins = {f"http://{BIND}:{port}", f"http://localhost:{port}"}

    @property
    def login_url(self) -> str:
        """The address to open: it logs the browser in once, then the token is in a cookie."""
        return f"http://{BIND}:{self.port}/login?token={self.token}"

    # --- one request ----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Response:
        """Answer one request; never raises for anything a client sends."""
        h = {k.lower(): v for k, v in headers.items()}
        url = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(url.query)
        try:
            self._check_host(h)
            if method == "GET" and url.path == "/login":
                return self._login(query)
            self._check_cookie(h)
            if method == "POST":
                form = self._check_post(h, body)
                return self._post(url.path, form)
            if method == "GET":
                return self._get(url.path, query)
            return self._error(405, "this console answers GET and POST only")
        except Refused as exc:
            return self._error(403, str(exc), bare=True)
        except (InvalidInput, VerificationFailed) as exc:
            return self._error(409 if isinstance(exc, VerificationFailed) else 400, str(exc))
        except AuditCallError as exc:
            # Unreachable: a gateway problem; anything else: the service refused, with its reason.
            return self._error(
                502 if exc.status == "UNAVAILABLE" else 409, f"the audit service answered: {exc}"
            )
        except ZhongliError as exc:
            return self._error(400, str(exc))

    # --- guards ---------------------------------------------------------------------------------

    def _check_host(self, h: Mapping[str, str]) -> None:
        if h.get("host", "") not in {f"{BIND}:{self.port}", f"localhost:{self.port}"}:
            raise Refused("this console answers only requests addressed to it on this machine")

    def _check_cookie(self, h: Mapping[str, str]) -> None:
        sent = ""
        for part in h.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                sent = value
        if not hmac.compare_digest(sent.encode(), self.token.encode()):
            raise Refused(
                "open the address the console printed when it started (it carries the access token); "
                "this browser has not logged in"
            )

    def _check_post(self, h: Mapping[str, str], body: bytes) -> dict[str, str]:
        if h.get("origin", "") not in self.origins:
            raise Refused("a form may be posted only from this console's own pages (Origin)")
        if h.get("sec-fetch-site", "same-origin") != "same-origin":
            raise Refused("a form may be posted only from this console's own pages (Sec-Fetch-Site)")
        if len(body) > MAX_BODY:
            raise InvalidInput(f"the form is over {MAX_BODY // 1024} KiB")
        if h.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise InvalidInput("the console takes its own forms only (application/x-www-form-urlencoded)")
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), strict_parsing=False, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("the form is not valid UTF-8 form data") from None
        form = dict(pairs)
        if not hmac.compare_digest(form.get("csrf", "").encode(), self.csrf.encode()):
            raise Refused("the form carries no valid CSRF token: reload the page and try again")
        return form

    # --- pages ----------------------------------------------------------------------------------

    def _login(self, query: Mapping[str, list[str]]) -> Response:
        sent = (query.get("token") or [""])[0]
        if not hmac.compare_digest(sent.encode(), self.token.encode()):
            raise Refused("that is not this console's access token")
        cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        return Response(303, headers={"Location": "/", "Set-Cookie": cookie})

    def _page(self, title: str, body: str, active: str = "", status: int = 200) -> Response:
        return Response(status, page(title, body, self.desk.me, self.desk.key_fingerprint, active))

    def _get(self, path: str, query: Mapping[str, list[str]]) -> Response:
        parts = [p for p in path.split("/") if p]
        if not parts:
            return self._page("Pending queue", queue_body(self.desk.queue()), "queue")
        if parts == ["refusals"]:
            return self._page("Refused and failed requests", refusals_body(*self.desk.refusals()), "refusals")
        if parts == ["log"]:
            return self._page("Audit log", log_body(self.desk.log()), "log")
        if parts == ["policy"]:
            body = policy_body(self.desk.policies(), self.desk.me, self.desk.key_fingerprint)
            return self._page("Policy", body, "policy")
        if len(parts) == 2 and parts[0] == "release":
            rid = release_id_of(parts[1])
            view = self.desk.release(rid)
            done = (query.get("done") or [""])[0]
            top = ""
            if done in DONE:
                status = (query.get("status") or [""])[0]
                entry = (query.get("entry") or [""])[0]
                top = flash(
                    f"{DONE[done]} as {self.desk.me}: log entry {entry[:12]}; release status: {status[:20]}."
                )
            return self._page(f"Release {rid}", top + release_body(view, self.csrf))
        if len(parts) == 3 and parts[0] == "release" and parts[2] == "approve":
            rid = release_id_of(parts[1])
            view = self.desk.release(rid)
            asked = (query.get("digest") or [""])[0].lower()
            if not view.signable:
                raise InvalidInput(
                    f"release {rid} cannot be approved here: {view.problem or view.record.status}"
                )
            if asked != view.digest:
                raise VerificationFailed(
                    f"release {rid} now hashes to {view.digest[:16]}…, not to the {asked[:16]}… you reviewed: "
                    "open the release page again and review what it shows now"
                )
            body = confirm_body(view, view.digest, self.csrf, self.desk.me, self.desk.key_fingerprint)
            return self._page(f"Approve release {rid}?", body)
        return self._error(404, f"no page at {path[:80]}")

    def _post(self, path: str, form: Mapping[str, str]) -> Response:
        parts = [p for p in path.split("/") if p]
        if len(parts) != 3 or parts[0] != "release" or parts[2] not in ("approve", "reject"):
            return self._error(404, f"nothing to post at {path[:80]}")
        rid, verb = release_id_of(parts[1]), parts[2]
        digest = form.get("digest", "")
        if verb == "approve":
            if form.get("confirm") != "yes":
                raise InvalidInput("confirm the approval: tick the box on the confirmation page, then sign")
            r = self.desk.approve(rid, digest)
        else:
            r = self.desk.reject(rid, digest, form.get("reason", ""))
        where = f"/release/{rid}?" + urllib.parse.urlencode(
            {"done": verb, "entry": r.entry_seq, "status": r.status}
        )
        return Response(303, headers={"Location": where})

    def _error(self, status: int, message: str, bare: bool = False) -> Response:
        body = flash(message, error=True) + '<p><a href="/">Back to the pending queue</a></p>'
        if bare:  # no auditor details on a page for someone who has not logged in
            doc = (
                '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Refused</title></head>'
                f'<body><h1>Refused</h1><p id="flash">{esc(message)}</p></body></html>\n'
            )
            return Response(status, doc)
        return self._page("Something went wrong", body, status=status)


class _Handler(BaseHTTPRequestHandler):
    app: ConsoleApp
    server_version = "zhongli-console"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _answer(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = MAX_BODY + 1
        if length > MAX_BODY or length < 0:
            self._send(self.app._error(413, f"the form is over {MAX_BODY // 1024} KiB", bare=True))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else b""
        try:
            response = self.app.handle(method, self.path, dict(self.headers.items()), body)
        except Exception:  # a bug must cost one page, not the console: the auditor may be mid-review
            log.exception("console: %s %s failed", method, urllib.parse.urlsplit(self.path).path)
            response = self.app._error(
                500, "the console failed on this page; its terminal shows why", bare=True
            )
        self._send(response)

    def _send(self, response: Response) -> None:
        data = response.body.encode("utf-8")
        self.send_response(response.status)
        for k, v in {**SECURITY_HEADERS, **response.headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        # Method, path and status only: the login address's query carries the access token.
        log.info("%s %s", self.command, urllib.parse.urlsplit(self.path).path)


def make_server(desk: ConsoleDesk, port: int = 0) -> tuple[ThreadingHTTPServer, ConsoleApp]:
    """The console's server on 127.0.0.1:``port`` (0: a free port), not yet serving."""
    server = ThreadingHTTPServer((BIND, port), _Handler)
    server.daemon_threads = True
    app = ConsoleApp(desk, int(server.server_address[1]))
    server.RequestHandlerClass = type("Handler", (_Handler,), {"app": app})
    return server, app
