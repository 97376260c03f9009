"""Pure pieces behind issue 11's early errors: the CSV delimiter (configured or sniffed), the
row-key rules of a party config, and reading a categorical label as an outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from neutral_zone.jobs.columns import binary_label
from neutral_zone.tables import PartyTable
from parties.config import ColumnSpec, DataSource, PartyConfig
from parties.source import load, sniff_delimiter
from proto.party.serde import ColumnInfo
from protocols.errors import ConfigError, DataError, InvalidInput
from protocols.floor import PolicyFloor
from transport.config import TlsConfig

TLS = TlsConfig(ca=Path("ca.pem"), cert=Path("p.pem"), key=Path("p.key"))
ROWS = ["phone;age;city"] + [f"1380013800{i};{20 + i};c{i}" for i in range(10)]


def _cfg(path: Path, delimiter: str | None = None, **extra: object) -> PartyConfig:
    return PartyConfig(
        name="p",
        role="media",
        tls=TLS,
        source=DataSource(format="csv", path=path, delimiter=delimiter),
        id_column="phone",
        id_type="phone",
        columns=[
            ColumnSpec(name="age", role="feature", type="numeric"),
            ColumnSpec(name="city", role="feature", type="categorical"),
        ],
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text("\n".join(r.replace(";", sep) for r in ROWS) + "\n")
    assert sniff_delimiter(path.read_text().splitlines()) == sep
    data = load(_cfg(path))
    assert data.rows == 10 and data.columns[0].values[3] == 23.0


def test_quoted_commas_do_not_fool_the_sniffer() -> None:
    lines = ["phone;note", '13800138000;"a, b, c"', '13800138001;"d, e"']
    assert sniff_delimiter(lines) == ";"
    assert sniff_delimiter(["onlyone", "x"]) == ","


def test_delimiter_config_accepts_words_and_refuses_nonsense(tmp_path: Path) -> None:
    assert DataSource(format="csv", path=tmp_path, delimiter="tab").delimiter == "\t"
    assert DataSource(format="csv", path=tmp_path, delimiter="Semicolon").delimiter == ";"
    for bad in ("ab", '"', ""):
        with pytest.raises(ValidationError, match="omit it to let the agent sniff it"):
            DataSource(format="csv", path=tmp_path, delimiter=bad)
    with pytest.raises(ValidationError, match="delimiter applies to csv sources only"):
        DataSource(format="parquet", path=tmp_path, delimiter=";")


def test_every_column_missing_is_one_message_with_a_delimiter_hint(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("\n".join(ROWS) + "\n")
    with pytest.raises(DataError) as err:
        load(_cfg(path, delimiter=","))
    assert str(err.value) == (
        "party 'p': none of the 3 columns named in the config (the ID column 'phone' included) is in data "
        "file 'semi.csv': split at each comma (configured), its header gives 1 column(s); it splits into more "
        "at each semicolon: set source.delimiter: semicolon in the party config"
    )
    assert "age" not in str(err.value)  # the header itself stays in the party's own log
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataError) as err:
        load(_cfg(other))
    assert str(err.value).endswith(
        "split at each comma (sniffed), its header gives 2 column(s); check source.delimiter (comma, semicolon, "
        "tab or pipe) and that the file's first line is its header"
    )


def test_row_key_may_be_the_id_column_only_when_ids_may_be_in_outputs(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    with pytest.raises(ValidationError, match="set ids_in_outputs: true to allow that at this site"):
        _cfg(path, row_key_column="phone")
    cfg = _cfg(path, row_key_column="phone", ids_in_outputs=True)
    assert cfg.row_results_problem() is None
    with pytest.raises(ValidationError, match="must not be a data column"):
        _cfg(path, row_key_column="age")


def test_a_brand_whose_floor_allows_scores_needs_a_row_key(tmp_path: Path) -> None:
    brand = _cfg(tmp_path / "d.csv").model_copy(update={"role": "brand"})
    assert brand.expects_row_results()
    with pytest.raises(ConfigError, match=r"remove lead_rating_score from floor\.jobs"):
        brand.require_row_key()
    no_scores = PolicyFloor(jobs={"intersection_stats": ["requester"]})
    brand.model_copy(update={"floor": no_scores}).require_row_key()  # nothing to write: starts
    _cfg(tmp_path / "d.csv").require_row_key()  # a media party takes no scores by default
    pinned = PolicyFloor(pinned_policy_digests=["ab" * 32])
    assert not brand.model_copy(update={"floor": pinned}).expects_row_results()  # the zone asks


def _table(kind: str, values: np.ndarray, categories: tuple[str, ...] = ()) -> PartyTable:
    t = PartyTable("oem", "brand", np.zeros((len(values), 32), np.uint8), np.ones(len(values), bool))
    t.schema = [ColumnInfo("y", kind, "label", categories)]
    t.columns = {"y": values}
    return t


def test_categorical_labels_read_as_outcomes() -> None:
    codes = np.array([0, 1, 1, -1, 0], dtype=np.int32)
    for cats, want in (
        (("0", "1"), [0, 1, 1, np.nan, 0]),
        (("1", "0"), [1, 0, 0, np.nan, 1]),
        (("0.0", "1.0"), [0, 1, 1, np.nan, 0]),
        (("no", "yes"), [0, 1, 1, np.nan, 0]),
        (("True", "False"), [1, 0, 0, np.nan, 1]),
        (("否", "是"), [0, 1, 1, np.nan, 0]),
    ):
        np.testing.assert_array_equal(binary_label(_table("category", codes, cats), "y"), want)
    with pytest.raises(InvalidInput) as err:
        binary_label(_table("category", codes, ("gold", "silver", "bronze")), "y")
    assert str(err.value) == (
        "label 'y' must hold 0/1 (or yes/no, true/false) values; its 3 declared categories are not all of "
        "those: recode it as 0/1 in the file (1 = the outcome happened)"
    )
    np.testing.assert_array_equal(
        binary_label(_table("float64", np.array([0.0, 1.0, np.nan])), "y"), [0, 1, np.nan]
    )
    with pytest.raises(InvalidInput, match="label 'y' must hold 0/1 values: recode it"):
        binary_label(_table("float64", np.array([0.0, 2.0])), "y")
    with pytest.raises(InvalidInput, match="not a timestamp"):
        binary_label(_table("timestamp_ms", np.array([1, 2])), "y")
