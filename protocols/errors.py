"""The project's one exception tree. Every error has a stable ``code`` and the name of the gRPC
status it maps to (``transport.errors`` holds the one table that turns it into a real status).

::

    ZhongliError                      code            gRPC status
    ├── InvalidInput                  invalid_input   INVALID_ARGUMENT
    │   ├── ConfigError               config          INVALID_ARGUMENT
    │   ├── DataError                 data            FAILED_PRECONDITION
    │   └── ProtocolError             protocol        INVALID_ARGUMENT
    ├── NotFound                      not_found       NOT_FOUND
    │   └── SessionExpired            session_expired NOT_FOUND
    ├── PeerNotAllowed                peer            PERMISSION_DENIED
    ├── PolicyViolation               policy          FAILED_PRECONDITION
    │   └── VerificationFailed        unverified      FAILED_PRECONDITION
    ├── NotReady                      not_ready       FAILED_PRECONDITION
    ├── BlindingRefused               blinding        FAILED_PRECONDITION
    ├── ResourceLimit                 resource        RESOURCE_EXHAUSTED
    └── PartyUnavailable              party           UNAVAILABLE

Messages say what is wrong and what to do about it, and name ids and counts, never data values.
"""

from __future__ import annotations


class ZhongliError(Exception):
    code = "internal"
    status = "INTERNAL"


class InvalidInput(ZhongliError):
    code = "invalid_input"
    status = "INVALID_ARGUMENT"


class ConfigError(InvalidInput):
    code = "config"


class DataError(InvalidInput):
    """A party's data does not match its declared schema (missing column, wrong type, empty)."""

    code = "data"
    status = "FAILED_PRECONDITION"


class ProtocolError(InvalidInput):
    """A peer sent a message that breaks the protocol (bad length, low-order point, bad round)."""

    code = "protocol"


class NotFound(ZhongliError):
    code = "not_found"
    status = "NOT_FOUND"


class SessionExpired(NotFound):
    code = "session_expired"


class PeerNotAllowed(ZhongliError):
    code = "peer"
    status = "PERMISSION_DENIED"


class PolicyViolation(ZhongliError):
    code = "policy"
    status = "FAILED_PRECONDITION"


class VerificationFailed(PolicyViolation):
    """What a client received, or an auditor is asked to sign, does not verify: too few trusted
    approvals, a payload or header that is not the approved one, a digest that is not the
    digest of what was shown. Nothing was written, delivered or signed."""

    code = "unverified"


class NotReady(ZhongliError):
    code = "not_ready"
    status = "FAILED_PRECONDITION"


class BlindingRefused(ZhongliError):
    """A pass through this party's key it will not serve: a second pass of one origin, more points
    or chunks than the origin announced, the party's own points, or a route that does not name
    this party with its current nonce (parties/chain_auth.py)."""

    code = "blinding"
    status = "FAILED_PRECONDITION"


class ResourceLimit(ZhongliError):
    code = "resource"
    status = "RESOURCE_EXHAUSTED"


class PartyUnavailable(ZhongliError):
    code = "party"
    status = "UNAVAILABLE"
