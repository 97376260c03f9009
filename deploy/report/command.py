"""``zhongli report``: one self-contained HTML page for the OEM, rendered from released payloads.

    zhongli report --dir demo-out --out report.html
    zhongli report --release release-rel-1.json --release release-rel-2.json --out report.html

A release file draws only if it carries the verification record a verifying fetch wrote into it
(``release.verification``: the digest recomputed at fetch, the payload's hash, the trusted
auditors whose signatures checked out). The page refuses a file without one, and a file whose
payload no longer hashes to the verified one; what delivery added at the recipient's site
(decrypted values, where its agent wrote the scores) sits beside the payload under ``delivered``
and is merged only after that check. Given ``--topology FILE --as NAME`` (required) it also
re-checks each file's approvals against NAME's own trusted auditors, as fetch did.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploy.report.fmt import Json, obj, rows_of
from deploy.report.page import NOT_RELEASED, render
from protocols.errors import InvalidInput, VerificationFailed, ZhongliError
from protocols.release import (
    Approval,
    ReleaseHeader,
    TrustedAuditors,
    canonical_json,
    sha256_hex,
    verify_approvals,
)


def check_verified(doc: Json, source: str, trust: TrustedAuditors) -> None:
    """Refuse a release document that does not carry the verification a verifying fetch wrote
    into it, whose payload is not the approved one (a file keeps the payload exactly as
    approved; what delivery added at the recipient's site sits beside it, under ``delivered``),
    or whose approvals do not verify against the reader's own trusted auditors.

    Raises:
        VerificationFailed: naming the file and what is wrong.
    """
    info = obj(doc.get("release"))
    v = obj(info.get("verification"))
    how = "fetch it with `zhongli release fetch ID --topology FILE --as YOU --out FILE`, which verifies it first"
    if not v.get("digest") or not v.get("payload_sha256"):
        raise VerificationFailed(
            f"release file {source} carries no verification record (it did not come from a verifying "
            f"fetch); {how}"
        )
    if sha256_hex(canonical_json(doc.get("payload"))) != v.get("payload_sha256"):
        raise VerificationFailed(
            f"release file {source}: its payload is not the one verified at fetch (edited since?); {how}"
        )
    try:
        header = ReleaseHeader(
            str(info["release_id"]),
            str(info["session_id"]),
            str(info["job"]),
            str(info["kind"]),
            str(info["recipient"]),
            str(v["payload_sha256"]),
            str(v.get("summary_sha256", "")),
        )
        approvals = [
            Approval(
                str(a.get("auditor", "")),
                bytes.fromhex(str(a["public_key"])),
                bytes.fromhex(str(a["signature"])),
            )
            for a in rows_of(info.get("approvals"))
        ]
    except (KeyError, ValueError, TypeError):
        raise VerificationFailed(
            f"release file {source}: its header or approvals are incomplete; {how}"
        ) from None
    verdict = verify_approvals(header, approvals, trust)
    if not verdict.ok:
        raise VerificationFailed(
            f"release file {source} does not verify against your trusted auditors: {verdict.reason}"
        )
    if verdict.digest != v.get("digest"):
        raise VerificationFailed(
            f"release file {source}: its header does not hash to the digest verified at fetch"
        )


def load_release(path: Path, trust: TrustedAuditors) -> Json:
    """Read one release file; a file that is not one, or one that is not verified (see
    :func:`check_verified`), names itself in the error."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read release file {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"release file {path} is not JSON ({exc})") from exc
    if (
        isinstance(doc, dict)
        and doc.get("payload") is None
        and str(obj(doc.get("release")).get("status")) in NOT_RELEASED
    ):
        return doc  # a refused (or not yet approved) release: drawn as such, with its reason
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        raise InvalidInput(
            f'release file {path} has no payload object; expected {{"release": {{...}}, "payload": {{...}}}}'
        )
    check_verified(doc, str(path), trust)
    return with_delivery(doc)


def with_delivery(doc: Json) -> Json:
    """The payload as the recipient sees it: the approved payload plus what delivery added at its
    own site (``delivered``): credited values it decrypted with its own key, and where its own
    agent wrote the row values (which never appear on a page)."""
    d = obj(doc.get("delivered"))
    if not d:
        return doc
    payload = json.loads(json.dumps(doc["payload"]))
    values = obj(d.get("credited_value"))
    for model, rows in obj(payload.get("models")).items():
        got = obj(values.get(model))
        for r in rows_of(rows):
            if str(r.get("channel")) in got:
                r["credited_value"] = got[str(r.get("channel"))]
    if d.get("scores_file"):
        # the row values (a lookalike audience's flags too) stay in the agent's file, off the page
        payload = {
            k: v
            for k, v in payload.items()
            if k not in ("scores", "grades") and not (k == "audience" and isinstance(v, str))
        } | {"scores_file": str(d["scores_file"])}
    return {**doc, "payload": payload}


def write_report(
    release_files: list[Path],
    out: Path,
    trust: TrustedAuditors,
    descriptions: Mapping[str, str] | None = None,
) -> Path:
    """Render the given release files into one HTML page at ``out`` (folders created); returns
    ``out``. Every file's payload and approvals are checked against the reader's ``trust``;
    ``descriptions`` are the reader's own words for its columns (see :func:`own_descriptions`)."""
    html_text = render([load_release(Path(p), trust) for p in release_files], descriptions)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html_text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write the report to {out}: {exc.strerror}") from exc
    return out


def own_descriptions(topo: Any, name: str) -> dict[str, str]:
    """The reader's own words for its columns (``columns[].description`` in its party config), by
    column name; none when its config cannot be read here (the report then names columns as they are)."""
    from parties.config import PartyConfig
    from transport.config import load_config

    try:
        p = topo.get(name)
        if p.config is None:
            return {}
        cfg = load_config(p.config, PartyConfig)
    except (ZhongliError, AttributeError):
        return {}
    return {c.name: c.description for c in cfg.columns if c.description}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--release",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a release file (from `zhongli release fetch --out`); repeatable",
    )
    parser.add_argument("--dir", type=Path, metavar="DIR", help="use every release-*.json in DIR")
    parser.add_argument(
        "--out", type=Path, default=Path("report.html"), help="HTML file to write (default report.html)"
    )
    parser.add_argument(
        "--topology",
        default=os.environ.get("ZHONGLI_TOPOLOGY"),
        help="with --as: every file's approvals are checked against your own trusted auditors (required)",
    )
    parser.add_argument(
        "--as", dest="identity", default=os.environ.get("ZHONGLI_AS"), help="who you are in the topology"
    )


def cmd_report(args: argparse.Namespace) -> int:
    files = list(args.release or [])
    if args.dir is not None:
        if not Path(args.dir).is_dir():
            raise InvalidInput(f"--dir {args.dir} is not a folder")
        files += sorted(Path(args.dir).glob("release-*.json"))
    # a file named twice (--release and --dir) is one release: one section
    files = list({f.resolve(): f for f in files}.values())
    if not files:
        raise InvalidInput(
            "no release files: give --release FILE (repeatable) or --dir DIR with release-*.json in it"
        )
    if not (getattr(args, "topology", None) and getattr(args, "identity", None)):
        raise InvalidInput(
            "give --topology FILE and --as NAME (or ZHONGLI_TOPOLOGY and ZHONGLI_AS): the report draws only "
            "releases a quorum of your own trusted auditors approved, and checks each file against them"
        )
    from deploy.topology import load_topology, trust_of

    topo = load_topology(args.topology)
    out = write_report(files, args.out, trust_of(topo, args.identity), own_descriptions(topo, args.identity))
    print(f"report of {len(files)} release(s) written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zhongli report", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_arguments(parser)
    try:
        return cmd_report(parser.parse_args(argv))
    except ZhongliError as exc:
        print(f"zhongli report: {exc}", file=sys.stderr)
        return 1
