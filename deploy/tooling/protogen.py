"""Regenerate the committed protobuf/gRPC code, or check it for drift (``--check``).

The generated ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` files are committed so that a
checkout runs without a code generator; CI runs ``--check`` so they can never silently drift from
the ``.proto`` sources. grpcio-tools is pinned to the runtime grpcio's minor version.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_sources() -> list[Path]:
    return sorted((ROOT / "proto").glob("*/v1/*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every source into ``out_dir`` (mirroring the tree); return the outputs."""
    from grpc_tools import protoc  # dev dependency, imported only here

    sources = [str(p.relative_to(ROOT)) for p in proto_sources()]
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in out_dir.rglob("*") if p.name.endswith(SUFFIXES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code differs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generated = generate(out)
        drift: list[str] = []
        for path in generated:
            rel = path.relative_to(out)
            target = ROOT / rel
            if args.check:
                if not target.exists() or not filecmp.cmp(path, target, shallow=False):
                    drift.append(str(rel))
            else:
                shutil.copyfile(path, target)
        committed = {
            str(p.relative_to(ROOT)) for p in (ROOT / "proto").rglob("*") if p.name.endswith(SUFFIXES)
        }
        stale = committed - {str(p.relative_to(out)) for p in generated}
        if args.check:
            drift.extend(sorted(stale))
            if drift:
                print("generated protobuf code is out of date: " + ", ".join(drift), file=sys.stderr)
                print("run `make proto` and commit the result", file=sys.stderr)
                return 1
            print(f"protobuf code up to date ({len(generated)} files)")
        else:
            for rel_s in stale:
                (ROOT / rel_s).unlink()
            print(f"generated {len(generated)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
