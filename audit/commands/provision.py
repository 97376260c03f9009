"""Running the audit service and making keys: ``serve``, ``keygen`` and ``service-keygen``."""

from __future__ import annotations

import argparse

from audit.commands.base import EXIT_OK, friendly
from audit.keys import generate


@friendly
def cmd_serve(args: argparse.Namespace) -> int:
    """Run the audit service until interrupted."""
    from audit.service import main_serve

    return main_serve(args.config)


@friendly
def cmd_keygen(args: argparse.Namespace) -> int:
    """Create an auditor key pair."""
    info = generate(args.out, overwrite=args.force)
    print(f"wrote {info.private_path} (private: keep it secret, mode 0600)")
    print(f"wrote {info.public_path} (public: give it to the audit and zone operators)")
    print(f"fingerprint {info.fingerprint}")
    print("add to audit.yaml and zone.yaml under 'auditors':")
    print(f"  - name: <your participant name>\n    public_key_file: {info.public_path}")
    return EXIT_OK


@friendly
def cmd_service_keygen(args: argparse.Namespace) -> int:
    """Create the audit service's own signing key pair."""
    info = generate(args.out, overwrite=args.force)
    print(f"wrote {info.private_path} (private: stays at the audit site, mode 0600)")
    print(
        f"wrote {info.public_path} (public: give it to every auditor; "
        "'verify --service-pub' checks the log against it)"
    )
    print(f"fingerprint {info.fingerprint}")
    print("add to audit.yaml:")
    print(f"  service_key_file: {info.private_path}")
    return EXIT_OK
