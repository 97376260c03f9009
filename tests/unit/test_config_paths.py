"""Every file a config names is found beside the config, not beside whoever started the process
(a key written to the working directory would be shared by every world, and by accident)."""

from __future__ import annotations

from pathlib import Path

import yaml

from parties.config import PartyConfig
from transport.config import load_config


def test_party_paths_resolve_beside_the_config(tmp_path: Path) -> None:
    cfg = {
        "name": "oem",
        "role": "brand",
        "listen": "127.0.0.1:0",
        "tls": {
            "ca": "certs/ca.pem",
            "cert": "certs/oem.pem",
            "key": "certs/oem.key",
            "crl": "certs/crl.pem",
        },
        "source": {"format": "csv", "path": "oem.csv"},
        "id_column": "phone",
        "id_type": "phone",
        "paillier_public_key_file": "keys/oem-paillier.pub",
        "blind_key_file": "keys/oem-blind.key",
        "outputs_dir": "out",
    }
    (tmp_path / "party.yaml").write_text(yaml.safe_dump(cfg))
    loaded = load_config(tmp_path / "party.yaml", PartyConfig)
    for path in (
        loaded.blind_key_file,
        loaded.paillier_public_key_file,
        loaded.source.path,
        loaded.outputs_dir,
        loaded.tls.key,
        loaded.tls.crl,
    ):
        assert path is not None and Path(path).is_absolute() and Path(path).is_relative_to(tmp_path), path
