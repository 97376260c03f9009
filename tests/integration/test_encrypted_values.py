"""An encrypted value column: encrypted at the OEM's agent, summed in the zone, decrypted only with
the OEM's private key — equal to the plaintext sums."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neutral_zone.config import PartyPeer
from neutral_zone.pipeline import PartyClient, end_all, prepare_all, pull_columns, run_chains
from neutral_zone.tables import assign_entities
from parties.agent import serve
from parties.config import ColumnSpec
from parties.paillier_keys import generate, load_private
from protocols import paillier as P
from tests.integration.helpers import party_config, phones, write_party_csv


def test_encrypted_column_reaches_the_zone_as_ciphertexts_and_sums_correctly(pki, policy_desk, tmp_path):
    rng = np.random.default_rng(4)
    ids = phones(rng, 300)
    csv = tmp_path / "oem.csv"
    write_party_csv(csv, ids, rng)
    frame = pd.read_csv(csv, dtype=str)
    price = np.where(rng.random(len(frame)) < 0.3, rng.integers(100_000, 400_000, len(frame)).astype(str), "")
    frame["price"] = price
    frame.to_csv(csv, index=False)
    pub = generate(tmp_path / "keys" / "oem-paillier", bits=1024)
    cfg = party_config("oem", "brand", csv, pki.tls("oem"), desk=policy_desk)
    cfg = cfg.model_copy(
        update={
            "columns": [
                *cfg.columns,
                ColumnSpec(name="price", role="value", type="numeric", share=True, encrypt="paillier"),
            ],
            "paillier_public_key_file": pub,
        }
    )
    other_csv = tmp_path / "media.csv"
    write_party_csv(other_csv, ids[:200], rng)
    servers, clients = [], []
    try:
        for name, role, c in (
            ("oem", "brand", cfg),
            (
                "media-a",
                "media",
                party_config("media-a", "media", other_csv, pki.tls("media-a"), desk=policy_desk),
            ),
        ):
            server, port, _ = serve(c)
            servers.append(server)
            clients.append(
                PartyClient(
                    PartyPeer(name=name, role=role, address=f"127.0.0.1:{port}"), pki.tls("zone").files(), 30
                )
            )
        counts = prepare_all(clients, "ses-enc", "phone", 60, policy_desk.text, policy_desk.digest)
        tables = run_chains(clients, "ses-enc", counts, 128, lambda *_: None)
        pull_columns(clients, tables, "ses-enc", 100, lambda *_: None)
        assign_entities(list(tables.values()))
        end_all(clients, "ses-enc")
    finally:
        for c in clients:
            c.close()
        for s in servers:
            s.stop(0)

    oem = tables["oem"]
    info = next(i for i in oem.schema if i.name == "price")
    cts = oem.columns["price"]
    assert info.kind == "paillier" and cts.shape == (oem.n_rows, P.ciphertext_bytes(info.paillier_n))
    # The zone holds no plaintext price: each row is a ciphertext or empty (missing).
    present = cts.any(axis=1)
    expected = pd.to_numeric(pd.Series(price[: len(ids)]), errors="coerce")  # rows of valid IDs come first
    assert present.sum() == expected.notna().sum()
    # Sum with weights chosen in the zone (here: 1 for people media-a also knows, 0.5 otherwise).
    known = set(tables["media-a"].entity[tables["media-a"].valid].tolist())
    ent = oem.row_entities()
    weights = np.where(np.isin(ent, list(known)), 1.0, 0.5)[present][:, None]
    total = P.weighted_sums(info.paillier_n, [P.from_bytes(r) for r in cts[present]], weights)[0]
    sk = load_private(tmp_path / "keys" / "oem-paillier.key")
    # Ground truth from the raw file: the score column identifies each row's person.
    score_to_price = dict(
        zip(frame["score"].astype(float), pd.to_numeric(frame["price"], errors="coerce"), strict=True)
    )
    row_prices = np.array([score_to_price[s] for s in oem.columns["score"]])
    plain = float(np.nansum(row_prices * np.where(np.isin(ent, list(known)), 1.0, 0.5)))
    assert P.decrypt_scaled(sk, total) == plain
