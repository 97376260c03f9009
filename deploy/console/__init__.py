"""The auditor's console: a local web app to review each pending release as a page and sign it.

``zhongli audit console --as NAME --key KEY`` serves, on 127.0.0.1 only, the pending queue; each
release drawn by the report's own section for its job, beside its automatic checks, its ε cost
and the requester's remaining budget, the session's other releases and its differencing history;
refused and failed requests with their reasons; the audit log with its verification and head
hash; and the policy in force. Approve (after an explicit confirmation) and reject (with a
reason) are signed here, with the auditor's key, over the digest recomputed from the content
the page displayed, by the same code as ``zhongli audit approve`` (docs/CONSOLE.md).

The modules, each importing only those above it:

    desk          what the console asks the audit service, and its signing rule (no HTTP)
    shell         the page shell: navigation, inline CSS, small HTML pieces
    release_page  a release as its recipient will see it, with its checks and history; the confirmation
    pages         the queue, refused and failed requests, the audit log, the policy
    server        the standard library's HTTP server on 127.0.0.1, its guards and routes
    command       ``zhongli audit console``
"""

from deploy.console.command import add_arguments, cmd_console
from deploy.console.server import ConsoleApp, make_server

__all__ = ["ConsoleApp", "add_arguments", "cmd_console", "make_server"]
