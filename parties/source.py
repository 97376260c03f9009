"""Reading a party's data and checking it against the declared schema.

Every problem becomes a :class:`DataError` naming the file, the column and (for bad values) the
first line numbers, so the party's operator can fix the file. Values themselves are never put in
messages: they may be personal data.
"""

from __future__ import annotations

import codecs
import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from parties.config import ColumnSpec, PartyConfig
from protocols.errors import DataError
from protocols.ids import normalise

log = logging.getLogger(__name__)

INT64_MIN = np.iinfo(np.int64).min
CSV_HEADER_LINES = 1


@dataclass
class EncodedColumn:
    spec: ColumnSpec
    kind: str  # float64 | category | timestamp_ms | paillier
    values: np.ndarray
    categories: list[str] = field(default_factory=list)
    paillier_n: int = 0


@dataclass
class LoadedData:
    rows: int
    ids: pd.Series  # canonical ID per row, <NA> where invalid
    columns: list[EncodedColumn]
    row_keys: np.ndarray | None = None  # the row_key_column's values, if configured (kept at the site)


def _lines(mask: np.ndarray, fmt: str, limit: int = 5) -> str:
    """Where the flagged rows are, as a person opening the file would count: file lines for a
    CSV (the header is line 1), 1-based row numbers for Parquet, which has no lines."""
    if fmt == "csv":
        idx = np.flatnonzero(mask)[:limit] + 1 + CSV_HEADER_LINES
        return "lines " + ", ".join(str(i) for i in idx)
    idx = np.flatnonzero(mask)[:limit] + 1
    return "rows " + ", ".join(str(i) for i in idx)


def _first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The 1-based line holding the first byte sequence ``encoding`` cannot decode.

    pandas reports a decoding error's offset inside its own read buffer, not inside the file, so
    we find the place ourselves (on the error path only, one streaming pass over the file).
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError:
                return number
    return None


SNIFFED = (",", ";", "\t", "|")  # the delimiters a CSV file's first lines are tried with, in this order
DELIMITER_WORDS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 20


def _head_lines(path: Path, encoding: str) -> list[str]:
    """The file's first lines (at most :data:`SNIFF_LINES`, from its first 64 KiB), decoded;
    a byte that does not decode is replaced (the full read reports it, with its line)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    lines = head.decode(codec, errors="replace").splitlines()
    # The last line may be cut at the 64 KiB boundary: keep it only when the file ended there.
    return (
        lines[:SNIFF_LINES] if len(head) < SNIFF_BYTES else lines[: max(1, min(SNIFF_LINES, len(lines) - 1))]
    )


def _fields(lines: list[str], delimiter: str) -> list[int]:
    """How many fields each line splits into at ``delimiter`` (quotes respected)."""
    return [len(row) for row in csv.reader(lines, delimiter=delimiter)]


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter among comma, semicolon, tab and pipe that splits the header into the most
    fields while every following line splits into as many; a comma when none splits it."""
    best, best_fields = ",", 1
    for d in SNIFFED:
        counts = _fields(lines, d)
        if not counts or counts[0] <= best_fields:
            continue
        if all(c == counts[0] for c in counts[1:]):
            best, best_fields = d, counts[0]
    return best


def csv_delimiter(cfg: PartyConfig) -> str:
    """The configured ``source.delimiter``, or the one sniffed from the file."""
    if cfg.source.delimiter is not None:
        return cfg.source.delimiter
    d = sniff_delimiter(_head_lines(cfg.source.path, cfg.source.encoding))
    log.info("%s: no source.delimiter configured; sniffed %s", cfg.source.path.name, DELIMITER_WORDS[d])
    return d


def read_frame(cfg: PartyConfig) -> pd.DataFrame:
    src = cfg.source
    where = _shown(cfg)
    if not src.path.exists():
        raise DataError(f"party '{cfg.name}': {where} does not exist")
    try:
        if src.format == "csv":
            frame = pd.read_csv(
                src.path,
                sep=csv_delimiter(cfg),
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                encoding=src.encoding,
            )
        else:
            frame = pd.read_parquet(src.path)
    except pd.errors.EmptyDataError:
        raise DataError(f"party '{cfg.name}': {where} is empty (no header, no rows)") from None
    except UnicodeDecodeError:
        line = _first_undecodable_line(src.path, src.encoding) if src.format == "csv" else None
        at = f" (first at line {line})" if line is not None else ""
        raise DataError(
            f"party '{cfg.name}': {where} is not valid {src.encoding}{at}; re-encode it or set source.encoding"
        ) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataError(
            f"party '{cfg.name}': cannot parse {where}: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    if frame.empty:
        raise DataError(f"party '{cfg.name}': {where} has a header but no rows")
    return frame


def _shown(cfg: PartyConfig) -> str:
    """How a party's file is named in messages that leave the party: its name, not its path."""
    return f"data file '{cfg.source.path.name}'"


def load(cfg: PartyConfig) -> LoadedData:
    """Read the source, check every configured column, normalise IDs and encode columns."""
    frame = read_frame(cfg)
    where = _shown(cfg)
    available = [str(c) for c in frame.columns]
    wanted = list(
        dict.fromkeys(
            [
                cfg.id_column,
                *(s.name for s in cfg.columns),
                *([cfg.row_key_column] if cfg.row_key_column else []),
            ]
        )
    )
    missing = [c for c in wanted if c not in frame.columns]
    if missing and len(missing) == len(wanted) and cfg.source.format == "csv":
        raise DataError(_nothing_found(cfg, available, len(wanted)))
    if missing:
        # The full header stays in this party's own log; the message (which reaches the zone and
        # the requester) names only near misses, quoted so a stray space or case slip shows.
        log.error(
            "%s: configured column(s) %s missing; columns in the file: %s",
            cfg.source.path,
            missing,
            available,
        )
        hints = [a for m in missing for a in available if a != m and a.strip().lower() == m.strip().lower()]
        hint = f" (did you mean {', '.join(repr(h) for h in hints)}?)" if hints else ""
        raise DataError(
            f"party '{cfg.name}': column(s) {', '.join(repr(m) for m in missing)} named in the config "
            f"are not in {where}{hint}"
        )
    # Blank cells are invalid IDs; they are filled before normalising because protocols.ids
    # fails on missing values for some ID types (device_id).
    ids = normalise(frame[cfg.id_column].astype("string").fillna(""), cfg.id_type)
    if not ids.notna().any():
        # Single invalid IDs are counted, never fatal; but when not one is valid the config points
        # at the wrong column or ID type, and a session would silently match nobody.
        raise DataError(
            f"party '{cfg.name}': none of the {len(frame)} value(s) in ID column '{cfg.id_column}' of {where} "
            f"is a valid {cfg.id_type} ID; check id_column and id_type in the config"
        )
    encoded = [_encode(cfg, frame[s.name], s, where) for s in cfg.columns]
    keys = frame[cfg.row_key_column].astype(str).to_numpy(dtype=object) if cfg.row_key_column else None
    return LoadedData(rows=len(frame), ids=ids, columns=encoded, row_keys=keys)


def _nothing_found(cfg: PartyConfig, header: list[str], wanted: int) -> str:
    """One message for a CSV file in which no configured column is found: nearly always the
    wrong delimiter (or no header line). The header itself goes to this party's log only: the
    message reaches the zone and the requester, and unshared column names are this party's."""
    head = _head_lines(cfg.source.path, cfg.source.encoding)
    used = cfg.source.delimiter or sniff_delimiter(head)
    how = "configured" if cfg.source.delimiter is not None else "sniffed"
    lines = head[:1]
    better = [d for d in SNIFFED if d != used and _fields(lines, d) and _fields(lines, d)[0] > len(header)]
    if better:
        hint = (
            f"it splits into more at each {DELIMITER_WORDS[better[0]]}: set source.delimiter: "
            f"{DELIMITER_WORDS[better[0]]} in the party config"
        )
    else:
        hint = (
            "check source.delimiter (comma, semicolon, tab or pipe) and that the file's first line is "
            "its header"
        )
    log.error(
        "%s: none of the %d configured columns found; the header found: %s", cfg.source.path, wanted, header
    )
    word = DELIMITER_WORDS.get(used, repr(used))
    return (
        f"party '{cfg.name}': none of the {wanted} columns named in the config (the ID column "
        f"'{cfg.id_column}' included) is in {_shown(cfg)}: split at each {word} ({how}), its header "
        f"gives {len(header)} column(s); {hint}"
    )


def _encode(cfg: PartyConfig, col: pd.Series, spec: ColumnSpec, where: str) -> EncodedColumn:
    present = col.notna().to_numpy()
    if spec.type == "numeric":
        if pd.api.types.is_numeric_dtype(col.dtype):
            values = col.astype("float64").to_numpy()
        else:
            values = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
        # Infinity ("inf", "1e999") parses but is no measurement; it would poison every sum.
        bad = present & ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"party '{cfg.name}': column '{spec.name}' is declared numeric but {int(bad.sum())} value(s) "
                f"in {where} are not finite numbers ({_lines(bad, cfg.source.format)})"
            )
        if spec.encrypt and (present & (values < 0)).any():
            raise DataError(
                f"party '{cfg.name}': column '{spec.name}' is encrypted and must hold non-negative values "
                f"({_lines(present & (values < 0), cfg.source.format)})"
            )
        return EncodedColumn(spec, "float64", values)
    if spec.type == "timestamp":
        ts = pd.to_datetime(col, errors="coerce", utc=True, format="ISO8601")
        bad = present & ts.isna().to_numpy()
        if bad.any():
            raise DataError(
                f"party '{cfg.name}': column '{spec.name}' is declared timestamp (ISO 8601) but "
                f"{int(bad.sum())} value(s) in {where} do not parse ({_lines(bad, cfg.source.format)})"
            )
        ms = ts.astype("datetime64[ms, UTC]").to_numpy(dtype="datetime64[ms]").astype(np.int64)
        ms[~present] = INT64_MIN
        return EncodedColumn(spec, "timestamp_ms", ms)
    cat = col.astype("string").astype("category")
    codes = cat.cat.codes.to_numpy().astype(np.int32)
    return EncodedColumn(spec, "category", codes, [str(c) for c in cat.cat.categories])
