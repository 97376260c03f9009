"""Ed25519 keys: the auditors' (which sign decisions) and the audit service's own (which signs
every log entry, see ``audit.log``), and exactly which bytes an approval or a rejection signs.

An approval signs the release digest itself (32 raw bytes): that is what the neutral zone
re-verifies before it lets a result out. A rejection signs a domain-separated hash of the digest,
so a rejection can never be replayed as an approval, nor an approval as a rejection::

    approve: sign(digest)
    reject:  sign(sha256(b"zhongli/reject/v1\\0" + digest))

Files: ``<prefix>.key`` holds the private key (PEM PKCS8, mode 0600); ``<prefix>.pub`` holds the
raw 32-byte public key as hex, which is what ``audit.yaml`` and ``zone.yaml`` point at. The service
key has the same format (``zhongli audit service-keygen``); ``audit.yaml`` names its ``.key`` as
``service_key_file``, and its ``.pub`` goes to the auditors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.errors import ConfigError, InvalidInput, VerificationFailed
from protocols.release import KIND_AGGREGATE, ReleaseHeader, decision_message, sha256_hex
from transport.trust import read_public_key

log = logging.getLogger(__name__)


def fingerprint(public_key: bytes) -> str:
    """A short, safe-to-print name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True, repr=False)
class KeyInfo:
    """An auditor's public key and where its files are. Prints as a fingerprint only."""

    public_key: bytes
    private_path: Path | None = None
    public_path: Path | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def public_hex(self) -> str:
        return self.public_key.hex()

    def __repr__(self) -> str:
        return f"KeyInfo(fingerprint={self.fingerprint})"

    __str__ = __repr__


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate(path_prefix: str | Path, overwrite: bool = False) -> KeyInfo:
    """Create a new auditor key pair as ``<prefix>.key`` and ``<prefix>.pub``.

    Args:
        path_prefix: Where to write, without extension (e.g. ``keys/auditor-1``).
        overwrite: Replace existing files. Off by default: overwriting a key an auditor is
            configured with locks them out, and the old key cannot be recovered.

    Returns:
        The new key's :class:`KeyInfo`.

    Raises:
        ConfigError: a file exists already (and ``overwrite`` is off) or cannot be written.
    """
    prefix = Path(path_prefix)
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    if not overwrite:
        for p in (key_path, pub_path):
            if p.exists():
                raise ConfigError(f"{p} exists already; choose another --out or remove it first")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = _raw_public(key)
    try:
        key_path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite and key_path.exists():
            key_path.unlink()
        # Created 0600 from the start: chmod after writing would leave a window where it is readable.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        pub_path.write_text(public.hex() + "\n", encoding="ascii")
    except OSError as exc:
        raise ConfigError(f"cannot write the key pair at {prefix}: {exc.strerror}") from exc
    return KeyInfo(public, key_path, pub_path)


def load_private(
    path: str | Path, what: str = "auditor key", make: str = "zhongli audit keygen"
) -> Ed25519PrivateKey:
    """Read an Ed25519 private key written by :func:`generate`.

    Args:
        path: The ``.key`` file.
        what: What the key is, for messages (``auditor key``, ``audit service key``).
        make: The command that makes one, for messages.

    Raises:
        ConfigError: missing, unreadable, or not an unencrypted Ed25519 PEM key.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s %s is readable by other users; run: chmod 600 %s", what, path, path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not an unencrypted PEM private key (make one with '{make}')") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key (make one with '{make}')")
    return key


SERVICE_KEYGEN = "zhongli audit service-keygen --out PREFIX"


def prefix_of(key_path: str | Path) -> Path:
    """``keys/audit-service.key`` -> ``keys/audit-service`` (what :func:`generate` takes)."""
    path = Path(key_path)
    return path.with_suffix("") if path.suffix == ".key" else path


def load_service_key(path: str | Path) -> Ed25519PrivateKey:
    """Read the audit service's signing key (``service_key_file`` in ``audit.yaml``).

    Raises:
        ConfigError: the file is missing (with the command that creates it), unreadable or not
            an Ed25519 key. The service never makes up a replacement for a key it was told to
            use: entries signed by a new key would not verify as the same log.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"service_key_file {path} does not exist; create it at the audit site with "
            f"'zhongli audit service-keygen --out {prefix_of(path)}' (deploy's provision does this) "
            f"and give {prefix_of(path)}.pub to the auditors"
        )
    return load_private(path, "audit service key", SERVICE_KEYGEN)


def load_public_hex(path: str | Path) -> bytes:
    """Read a ``.pub`` file (hex of the raw 32-byte Ed25519 public key) into raw bytes.

    Raises:
        ConfigError: missing, or not 64 hex digits.
    """
    return read_public_key(path)


def key_info(key: Ed25519PrivateKey, private_path: Path | None = None) -> KeyInfo:
    """The :class:`KeyInfo` of a loaded private key."""
    return KeyInfo(_raw_public(key), private_path)


def signed_message(verdict: str, digest: bytes) -> bytes:
    """The exact bytes an auditor signs for ``verdict`` (see ``protocols.release.decision_message``).

    Raises:
        InvalidInput: unknown verdict or a digest that is not 32 bytes.
    """
    try:
        return decision_message(verdict, digest)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def sign_decision(key: Ed25519PrivateKey, verdict: str, digest: bytes) -> bytes:
    """Sign ``verdict`` on a release digest (see the module docstring for the bytes signed)."""
    return key.sign(signed_message(verdict, digest))


@dataclass(frozen=True)
class ShownRelease:
    """What an auditor's tool displayed of a release: the header fields and the summary bytes
    exactly as received (``summary_json``), plus the payload hash the service names (the only
    part of a model or row-score release the auditor cannot see)."""

    release_id: str
    session_id: str
    job: str
    kind: str
    recipient: str
    summary_json: str
    payload_sha256: str = ""


def digest_to_sign(asked: str, shown: ShownRelease, service_digest: str) -> bytes:
    """The digest an auditor signs, recomputed from what its tool displayed; refuses on any
    mismatch with the digest the audit service hands over, naming it.

    An aggregate's summary is its payload, so both hashes come from the displayed bytes; for a
    model or row scores the payload hash is the service's, and the summary's is the auditor's
    own (the zone binds both into the digest, so a summary other than the one reviewed cannot be
    signed for).

    Args:
        asked: The release id the auditor named on the command line.
        shown: What was displayed.
        service_digest: The hex digest the audit service says the release has.

    Raises:
        VerificationFailed: the service answered for another release, named a payload hash other
            than the displayed content's, gave no payload hash where one is needed, or a digest
            other than the one recomputed. Nothing must be signed then.
    """
    if shown.release_id != asked:
        raise VerificationFailed(
            f"asked for release {asked}, the audit service answered with {shown.release_id[:64]}: not signing"
        )
    summary_sha = sha256_hex(shown.summary_json.encode())
    if shown.kind == KIND_AGGREGATE:
        payload_sha = summary_sha
        if shown.payload_sha256 and shown.payload_sha256.lower() != payload_sha:
            raise VerificationFailed(
                f"release {asked}: the service names payload SHA-256 {shown.payload_sha256[:16]}…, "
                f"but the content shown hashes to {payload_sha[:16]}…: not signing a payload you did not see"
            )
    else:
        payload_sha = shown.payload_sha256.lower()
        if len(payload_sha) != 64:
            raise VerificationFailed(
                f"release {asked} ({shown.kind}): the service names no payload hash, so no digest can be "
                "tied to what was shown: not signing"
            )
    header = ReleaseHeader(
        shown.release_id, shown.session_id, shown.job, shown.kind, shown.recipient, payload_sha, summary_sha
    )
    digest = header.digest()
    if service_digest.lower() != digest.hex():
        raise VerificationFailed(
            f"release {asked}: the audit service hands over digest {service_digest[:16]}…, but the header and "
            f"content shown hash to {digest.hex()[:16]}… (release id, session, job, kind, recipient or content "
            "differ from what was signed for): not signing"
        )
    return digest
