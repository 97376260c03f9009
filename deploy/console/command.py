"""``zhongli audit console``: start the auditor's console on this machine.

    zhongli audit console --as auditor-1 --key keys/auditor-1.key [--topology topo.yaml] [--port N]

It talks to the audit service over the auditor's own mTLS identity (``--topology``/``--as``, as
every ``zhongli audit`` client command), reads the signing key from ``--key`` on this machine, and
serves its pages on 127.0.0.1 only. It prints one address to open, carrying the access token;
Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from audit.commands.base import client_for
from audit.keys import load_private
from deploy.console.desk import ConsoleDesk
from deploy.console.server import make_server
from protocols.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The console's own options; the client options come from the ``audit`` group's parent."""
    p.add_argument(
        "--key", required=True, metavar="FILE", help="your auditor private key (.key); it stays here"
    )
    p.add_argument(
        "--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (default: a free one, printed)"
    )
    p.set_defaults(func=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    """Check the key and the audit service, then serve the console until Ctrl-C."""
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, not {args.port}")
    key_path = Path(args.key)
    load_private(key_path)  # a missing or wrong key fails here, before anything listens
    client, me = client_for(args)
    try:
        # One call before serving: an unreachable service or a certificate that is not an
        # auditor's fails now, with the service's own words, not on the first page.
        client.list_pending()
        desk = ConsoleDesk(client, me, key_path)
        try:
            server, app = make_server(desk, args.port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
        print(f"auditor console for {me}: open {app.login_url}", flush=True)
        print(
            "(only on this machine; the address carries your access token. Ctrl-C stops the console.)",
            flush=True,
        )

        # Ctrl-C (SIGINT) or SIGTERM asks the serving loop to stop from another thread, rather than
        # raising KeyboardInterrupt wherever the main thread happens to be.
        def stop(_signum: int, _frame: object) -> None:
            threading.Thread(target=server.shutdown, name="console-stop", daemon=True).start()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            server.serve_forever()
        finally:
            server.server_close()
    finally:
        client.close()
    return 0
