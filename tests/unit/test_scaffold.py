"""``zhongli init``: delimiter sniffing, column types, the ID heuristic, roles, the configs it
writes (valid party configs), its errors, and that nothing it prints or writes holds an ID."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from deploy.cli import main
from deploy.scaffold.infer import guess_column, inspect_file, sniff_delimiter
from deploy.scaffold.roles import propose
from parties.config import PartyConfig
from protocols.errors import ConfigError
from transport.config import load_config

N = 400


def _phones(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"13{x:09d}" for x in rng.choice(10**9, size=n, replace=False)]


def _leads(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "lead_id": [f"L{i:06d}" for i in range(n)],
            "mobile": _phones(n),
            "created_at": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%dT%H:%M:%S"),
            "city": rng.choice(["a", "b", "c"], size=n),
            "has_car": rng.integers(0, 2, size=n),
            "kids": rng.integers(0, 4, size=n),
            "income": np.round(rng.normal(5000, 900, size=n), 2),
            "notes": [f"free text {i} {x}" for i, x in enumerate(rng.random(n))][: n // 2] * 2,
            "empty": [""] * n,
            "purchased": rng.integers(0, 2, size=n),
            "purchase_time": pd.date_range("2024-02-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M"),
        }
    )


def _write(df: pd.DataFrame, path: Path, sep: str = ",") -> Path:
    df.to_csv(path, sep=sep, index=False)
    return path


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_sniffs_each_delimiter(tmp_path, sep):
    profile = inspect_file(_write(_leads(), tmp_path / "leads.csv", sep))
    assert profile.delimiter == sep
    assert [c.name for c in profile.columns] == list(_leads().columns)


def test_sniff_ignores_delimiters_inside_quotes_and_a_cut_last_line():
    sample = 'a;b;c\n"x,y";1;2\n"p,q";3;4\n"r,s";5'
    assert sniff_delimiter(sample) == ";"
    assert sniff_delimiter("only\none\ncolumn\n") == ","


def test_types_and_reasons(tmp_path):
    profile = inspect_file(_write(_leads(), tmp_path / "leads.csv", ";"))
    kinds = {c.name: c.config_type for c in profile.columns}
    assert kinds == {
        "lead_id": None,
        "mobile": None,
        "created_at": "timestamp",
        "city": "categorical",
        "has_car": "categorical",
        "kids": "categorical",
        "income": "numeric",
        "notes": None,
        "empty": None,
        "purchased": "categorical",
        "purchase_time": "timestamp",
    }
    assert profile.column("mobile").id_type == "phone"
    assert profile.column("lead_id").unique and profile.column("lead_id").id_type is None
    assert profile.column("has_car").flag
    assert profile.column("city").categories == ("a", "b", "c")


def test_many_valued_integers_are_numeric_and_a_numbered_key_is_a_row_key():
    assert guess_column("visits", pd.Series([str(i % 40) for i in range(N)])).config_type == "numeric"
    key = guess_column("customer_no", pd.Series([str(i) for i in range(N)]))
    assert key.config_type is None and key.unique


def test_id_heuristic_email_and_device_and_phone_spellings():
    emails = pd.Series([f"Person{i}@Example.com " for i in range(N)])
    assert guess_column("contact", emails).id_type == "email"
    rng = np.random.default_rng(2)
    oaids = pd.Series(["".join(rng.choice(list("0123456789abcdef"), 32)) for _ in range(N)])
    assert guess_column("oaid", oaids).id_type == "device_id"
    spelt = [p if i % 3 else f"+86 {p[:3]}-{p[3:7]}-{p[7:]}" for i, p in enumerate(_phones(N))]
    assert guess_column("tel", pd.Series(spelt)).id_type == "phone"
    # Mostly invalid: not an ID
    half = [p if i % 2 else "n/a" for i, p in enumerate(_phones(N))]
    assert guess_column("tel", pd.Series(half)).id_type is None


def test_parquet_with_real_types(tmp_path):
    df = _leads()
    df["created_at"] = pd.to_datetime(df["created_at"])
    df.to_parquet(tmp_path / "leads.parquet")
    profile = inspect_file(tmp_path / "leads.parquet")
    assert profile.fmt == "parquet" and profile.delimiter is None
    assert profile.column("created_at").config_type == "timestamp"
    assert profile.column("income").config_type == "numeric"
    assert profile.column("mobile").id_type == "phone"


def test_brand_roles(tmp_path):
    prop = propose(inspect_file(_write(_leads(), tmp_path / "leads.csv")), "brand")
    assert (prop.id_column, prop.id_type, prop.row_key_column, prop.ids_unique) == (
        "mobile",
        "phone",
        "lead_id",
        True,
    )
    roles = {c["name"]: (c["role"], c["type"]) for c in prop.columns}
    assert roles["purchased"] == ("label", "numeric")
    assert roles["created_at"] == ("event_time", "timestamp")
    assert roles["purchase_time"] == ("conversion_time", "timestamp")
    assert roles["has_car"] == ("feature", "categorical")
    assert "notes" not in roles and "empty" not in roles
    assert set(prop.left_out) == {"notes", "empty"}


def test_media_and_provider_roles(tmp_path):
    rng = np.random.default_rng(3)
    touches = pd.DataFrame(
        {
            "phone": _phones(N // 4) * 4,
            "ts": pd.date_range("2024-01-01", periods=N, freq="min").strftime("%Y-%m-%dT%H:%M:%S"),
            "channel": rng.choice(["feed", "search", "video"], size=N),
            "event": rng.choice(["impression", "click"], size=N),
            "campaign": rng.choice(["c1", "c2", "c3", "c4"], size=N),
        }
    )
    prop = propose(inspect_file(_write(touches, tmp_path / "t.csv", "|")), "media")
    roles = {c["name"]: c["role"] for c in prop.columns}
    assert roles == {"ts": "event_time", "channel": "channel", "event": "event_type", "campaign": "feature"}
    assert prop.ids_unique is False
    tags = pd.DataFrame({"phone": _phones(N), "tier": rng.choice(["1", "2"], size=N), "score": rng.random(N)})
    prop = propose(inspect_file(_write(tags, tmp_path / "tags.csv", "\t")), "data_provider")
    assert {c["name"]: c["role"] for c in prop.columns} == {"tier": "feature", "score": "feature"}


def test_no_id_column_and_unreadable_files(tmp_path):
    no_id = _write(pd.DataFrame({"a": range(N), "b": ["x"] * N}), tmp_path / "no_id.csv")
    with pytest.raises(ConfigError, match=r"no column of no_id\.csv looks like an ID"):
        propose(inspect_file(no_id), "brand")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        inspect_file(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("phone;x\n")
    with pytest.raises(ConfigError, match="has a header but no rows"):
        inspect_file(tmp_path / "header.csv")
    with pytest.raises(ConfigError, match="does not exist"):
        inspect_file(tmp_path / "missing.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match="cannot read"):
        inspect_file(tmp_path / "bad.parquet")


def _init(tmp_path: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["init", "--out", str(tmp_path / "site"), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_init_writes_valid_commented_configs_without_values(tmp_path, capsys):
    leads = _leads()
    _write(leads, tmp_path / "leads.csv", ";")
    tags = pd.DataFrame({"phone": _phones(N), "tier": ["1", "2"] * (N // 2)})
    _write(tags, tmp_path / "tags.csv")
    code, out, _ = _init(
        tmp_path,
        capsys,
        "--party",
        f"oem=brand:{tmp_path / 'leads.csv'}",
        "--party",
        f"dp=data_provider:{tmp_path / 'tags.csv'}",
        "--base-port",
        "7100",
    )
    assert code == 0
    site = tmp_path / "site"
    assert sorted(p.name for p in site.glob("*.yaml")) == [
        "audit.yaml",
        "party-dp.yaml",
        "party-oem.yaml",
        "topology.yaml",
        "zone.yaml",
    ]
    cfg = load_config(site / "party-oem.yaml", PartyConfig)
    assert cfg.listen == "127.0.0.1:7102" and cfg.id_column == "mobile" and cfg.row_key_column == "lead_id"
    assert cfg.source.path.resolve() == (tmp_path / "leads.csv").resolve()
    assert cfg.floor.row_level.consent and cfg.blind_key_file is not None  # a brand, for its own data
    # A partner's row-level consent is its own decision: not given unless asked for
    assert not load_config(site / "party-dp.yaml", PartyConfig).floor.row_level.consent
    assert "--row-level-partners oem " in out
    assert [c.name for c in cfg.columns if c.role == "label"] == ["purchased"]
    text = (site / "party-oem.yaml").read_text()
    assert (
        "# label (0/1 flag)" in text and "semicolon-separated" in text and "column notes not listed" in text
    )
    # the audit log in a folder of its own: a site gives the service one writable volume for it
    assert yaml.safe_load((site / "audit.yaml").read_text())["db"] == "log/audit.db"
    topo = yaml.safe_load((site / "topology.yaml").read_text())
    assert {p["name"]: p.get("address") for p in topo["participants"]} == {
        "zone": "127.0.0.1:7100",
        "audit": "127.0.0.1:7101",
        "oem": "127.0.0.1:7102",
        "dp": "127.0.0.1:7103",
        "auditor-1": None,
        "auditor-2": None,
    }
    zone = yaml.safe_load((site / "zone.yaml").read_text())
    assert [p["address"] for p in zone["parties"]] == ["127.0.0.1:7102", "127.0.0.1:7103"]
    assert zone["approvals_required"] == 2
    # No ID, row key or numeric value in what was printed or written; column names are.
    written = out + "".join(p.read_text() for p in site.glob("*.yaml"))
    secrets = [*leads["mobile"], *leads["lead_id"], *tags["phone"], *leads["income"].astype(str)]
    assert not [s for s in secrets if s in written]
    assert "mobile" in out and "purchased" in out
    assert "2024-01-01" not in written


def test_init_refuses_to_overwrite_and_names_what_to_do(tmp_path, capsys):
    _write(_leads(), tmp_path / "leads.csv")
    party = f"oem=brand:{tmp_path / 'leads.csv'}"
    assert _init(tmp_path, capsys, "--party", party)[0] == 0
    code, _, err = _init(tmp_path, capsys, "--party", party)
    assert code == 1 and err.startswith("zhongli: ") and "--force" in err
    assert _init(tmp_path, capsys, "--party", party, "--force")[0] == 0


@pytest.mark.parametrize(
    ("party", "message"),
    [
        ("oem=brand", "write it as NAME=ROLE:FILE"),
        ("oem=owner:x.csv", "the role must be one of"),
        ("oem=media:{leads}", "no party has the role brand"),
        ("oem=brand:{missing}", "does not exist"),
        ("oem=brand:{empty}", "is empty"),
        ("oem=brand:{no_id}", "looks like an ID"),
    ],
)
def test_init_errors_exit_non_zero_with_a_message(tmp_path, capsys, party, message):
    _write(_leads(), tmp_path / "leads.csv")
    (tmp_path / "empty.csv").write_text("")
    _write(pd.DataFrame({"a": range(N)}), tmp_path / "no_id.csv")
    files = {k: tmp_path / f"{k}.csv" for k in ("leads", "missing", "empty", "no_id")}
    code, _, err = _init(tmp_path, capsys, "--party", party.format(**files))
    assert code == 1
    assert err.startswith("zhongli: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "site").exists()


def test_init_overrides_and_dry_run(tmp_path, capsys):
    df = _leads().rename(columns={"purchased": "caravan"})
    df["alt_phone"] = _phones(N, seed=9)
    _write(df, tmp_path / "leads.csv")
    code, out, _ = _init(
        tmp_path,
        capsys,
        "--party",
        f"oem=brand:{tmp_path / 'leads.csv'}",
        "--label",
        "oem=caravan",
        "--id-column",
        "oem=alt_phone:phone",
        "--dry-run",
    )
    assert code == 0 and "nothing written" in out and not (tmp_path / "site").exists()
    assert "caravan" in out and "label" in out.split("caravan", 1)[1].splitlines()[0]
    assert "alt_phone" in out.splitlines()[1]


def test_row_level_consent_only_where_given(tmp_path, capsys):
    _write(_leads(), tmp_path / "leads.csv")
    _write(pd.DataFrame({"phone": _phones(N, 1), "tier": ["1", "2"] * (N // 2)}), tmp_path / "tags.csv")
    parties = [
        "--party",
        f"oem=brand:{tmp_path / 'leads.csv'}",
        "--party",
        f"dp=data_provider:{tmp_path / 'tags.csv'}",
    ]
    code, out, _ = _init(tmp_path, capsys, *parties, "--row-level-consent", "dp")
    assert code == 0 and "dp yes" in out and "--row-level-partners oem,dp " in out
    assert load_config(tmp_path / "site" / "party-dp.yaml", PartyConfig).floor.row_level.consent
    code, _, err = _init(tmp_path, capsys, *parties, "--row-level-consent", "nobody", "--force")
    assert code != 0 and "--row-level-consent names nobody, which no --party names" in err
