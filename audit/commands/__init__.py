"""``zhongli audit ...``: run the audit service, make auditor keys, review and sign releases.

::

    zhongli audit serve --config audit.yaml
    zhongli audit keygen --out keys/auditor-1
    zhongli audit service-keygen --out keys/audit-service
    zhongli audit pending                   --topology topo.yaml --as auditor-1
    zhongli audit show ID                   --topology topo.yaml --as auditor-1
    zhongli audit approve ID --key keys/auditor-1.key [--digest HEX]
    zhongli audit reject ID --reason TEXT --key keys/auditor-1.key [--digest HEX]
    zhongli audit policy DIGEST
    zhongli audit budget REQUESTER [--policy DIGEST]
    zhongli audit refusals [--requester NAME] [--limit N]
    zhongli audit requests [--requester NAME] [--since ISO-or-ms] [--limit N]
    zhongli audit verify [--db audit.db | --jsonl export.jsonl] [--service-pub keys/audit-service.pub]
                         [--expect-head HASH]
    zhongli audit export [--db audit.db] [--out export.jsonl]
    zhongli audit console --key keys/auditor-1.key --as auditor-1   (added by deploy.cli: deploy/console/)

Client commands find the audit service in the topology (the participant with role ``audit``) and
use the certificate of the participant named by ``--as``; ``ZHONGLI_TOPOLOGY`` and ``ZHONGLI_AS``
stand in for the flags; ``deploy.cli`` hands in the topology loader (see :func:`register`).
Errors print one line to stderr and exit 1; ``verify`` exits 2 when the log is broken.

The commands, grouped by what the auditor does:

- :mod:`audit.commands.provision`: ``serve``, ``keygen``, ``service-keygen``;
- :mod:`audit.commands.review`: ``pending``, ``show``, ``approve``, ``reject``;
- :mod:`audit.commands.oversight`: ``policy``, ``budget``, ``refusals``, ``requests``;
- :mod:`audit.commands.integrity`: ``verify``, ``export``;

with what they share in :mod:`audit.commands.base` and the parser in :mod:`audit.commands.parser`.
"""

from audit.commands.base import TopologyLoader
from audit.commands.parser import main, register

__all__ = ["TopologyLoader", "main", "register"]
