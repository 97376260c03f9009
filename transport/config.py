"""Loading typed settings: a YAML file validated by a frozen pydantic model, plus environment
overrides. A mistake fails at start-up with the field's name, not later with a KeyError."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocols.errors import ConfigError
from transport.rpc import TlsFiles

M = TypeVar("M", bound=BaseModel)

ENV_PREFIX = "ZHONGLI_"


class Strict(BaseModel):
    """Base for every config and job spec: immutable, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class TlsConfig(Strict):
    ca: Path
    cert: Path
    key: Path
    # The CA's certificate revocation list (``zhongli certs revoke``). When set, this process
    # refuses calls from revoked certificates and servers that present one.
    crl: Path | None = None

    def files(self) -> TlsFiles:
        return TlsFiles(ca=self.ca, cert=self.cert, key=self.key, crl=self.crl)


class AuditorKey(Strict):
    """An auditor known by name and Ed25519 public key (file holding the raw key as hex)."""

    name: str
    public_key_file: Path


class TrustConfig(Strict):
    """The auditors this participant accepts (Ed25519 public keys from its own files, never from
    a peer) and how many of them must approve anything it receives or lets its data into."""

    auditors: list[AuditorKey] = Field(min_length=1)
    quorum: int = Field(default=1, ge=1)


class ServiceConfig(Strict):
    """Fields every server has."""

    name: str
    listen: str = "127.0.0.1:0"
    tls: TlsConfig

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_" for c in v):
            raise ValueError("use letters, digits, '-' and '_' only")
        return v


def describe_validation(exc: ValidationError, source: str, doc: str = "docs/CONFIG.md") -> str:
    """One line per field error of ``exc``, under ``source``; an unknown field points to ``doc``
    (where the valid fields are listed: the config reference, or a job's own document)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (check the spelling; see {doc})"
        parts.append(f"{loc}: {msg}")
    return f"{source}: " + "; ".join(parts)


def _resolve_paths(data: Any, base: Path) -> Any:
    """Make relative paths (keys ending in a path-ish name) relative to the config file's folder."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if isinstance(v, str) and k in {
                "ca",
                "cert",
                "key",
                "crl",
                "path",
                "db",
                "public_key_file",
                "seal_key_file",
                "outputs_dir",
                "paillier_public_key_file",
                "policy_file",
                "service_key_file",
                "blind_key_file",
            }:
                p = Path(v)
                out[k] = str(p if p.is_absolute() else (base / p))
            else:
                out[k] = _resolve_paths(v, base)
        return out
    if isinstance(data, list):
        return [_resolve_paths(v, base) for v in data]
    return data


def load_config(path: str | Path, model: type[M], env: Mapping[str, str] | None = None) -> M:
    """Read ``path`` as YAML into ``model``; ``ZHONGLI_<FIELD>`` variables override top-level
    scalar fields (e.g. ``ZHONGLI_LISTEN=127.0.0.1:7000``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw = _resolve_paths(raw, path.parent.resolve())
    environ = os.environ if env is None else env
    for field, info in model.model_fields.items():
        key = ENV_PREFIX + field.upper()
        if key in environ and info.annotation in (str, int, float, bool):
            raw[field] = environ[key]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation(exc, str(path))) from exc
