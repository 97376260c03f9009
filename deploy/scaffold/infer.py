"""Looking at a party's own data file to propose its config: the delimiter, each column's type.

:func:`inspect_file` reads a CSV (its delimiter sniffed among comma, semicolon, tab and pipe) or
a Parquet file and returns a :class:`FileProfile`: per column a :class:`ColumnGuess` with the
config type it would get (``numeric`` / ``categorical`` / ``timestamp``), whether it looks like a
person's ID (and of which ``id_type``, judged by the very normaliser the agent uses), whether its
values are unique (a row key), and a *reason* in words. Reasons and every other text made here
name columns and counts of distinct values, never a value: the caller prints them and writes them
into configs, and an ID column's values are personal data. Only a categorical column that is not
an ID keeps its categories (:attr:`ColumnGuess.categories`), for the config's comments.

Everything runs at the party's own site, on its own file; nothing here opens a connection.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from protocols.errors import ConfigError
from protocols.ids import ID_TYPES, normalise

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SNIFF_BYTES = 64 * 1024
MAX_ROWS = 200_000  # enough to see every column's kind; the agent reads the whole file anyway
ID_VALID_SHARE = 0.8  # at least this share of a column's values are valid IDs of one type
FLAG_VALUES = frozenset({0.0, 1.0})
MAX_INT_CATEGORIES = 12  # integers with this many distinct values or fewer are codes, not amounts
MAX_CATEGORIES = 50  # strings with more distinct values than this are free text or identifiers
MIN_ROWS_FOR_UNIQUE = 20  # below this, "every value distinct" says nothing
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_KEYISH = re.compile(r"(?:^|_)(?:id|no|nr|num|number|key|ref|code)$|^id_|_id_")


@dataclass(frozen=True)
class ColumnGuess:
    """What one column looks like. ``config_type`` is None for columns no config type fits
    (empty, free text, identifiers); ``reason`` never quotes a value."""

    name: str
    config_type: str | None
    reason: str
    distinct: int
    unique: bool = False  # every non-empty value distinct (a row key candidate)
    id_type: str | None = None  # the ID type most of its values are valid as, if any
    id_share: float = 0.0  # the share of its values that are valid IDs of that type
    flag: bool = False  # only 0 and 1
    categories: tuple[str, ...] = field(default=(), repr=False)  # categorical, non-ID columns only


@dataclass(frozen=True)
class FileProfile:
    """One inspected file: its format, delimiter (CSV), rows read and its columns in file order."""

    path: Path
    fmt: str  # csv / parquet
    delimiter: str | None
    rows: int
    columns: tuple[ColumnGuess, ...]

    def column(self, name: str) -> ColumnGuess:
        for c in self.columns:
            if c.name == name:
                return c
        raise ConfigError(f"{self.path.name} has no column '{name}'")


def sniff_delimiter(sample: str) -> str:
    """The delimiter among comma, semicolon, tab and pipe that splits the sample's lines into the
    same number of fields (at least two) on every line, the most fields winning; a comma when
    none does (a one-column file)."""
    lines = [line for line in sample.splitlines() if line.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line short
    best, best_fields = ",", 1
    for d in DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(io.StringIO("\n".join(lines[:50])), delimiter=d)}
        except csv.Error:
            continue
        if len(widths) == 1:
            (n,) = widths
            if n > best_fields:
                best, best_fields = d, n
    return best


def _read(path: Path, encoding: str) -> tuple[pd.DataFrame, str, str | None]:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist or is not a file; give the path of a CSV or Parquet file")
    fmt = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
            return frame.head(MAX_ROWS), fmt, None
        with open(path, encoding=encoding, newline="") as f:
            sample = f.read(SNIFF_BYTES)
        if not sample.strip():
            raise ConfigError(f"{path} is empty; export the data with a header line and at least one row")
        delimiter = sniff_delimiter(sample)
        frame = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding=encoding,
            nrows=MAX_ROWS,
        )
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid {encoding} text; re-encode it or pass --encoding") from None
    except pd.errors.EmptyDataError:
        raise ConfigError(
            f"{path} is empty; export the data with a header line and at least one row"
        ) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        # The parser's message may quote a line of the file: name its kind only.
        raise ConfigError(
            f"cannot read {path} as {fmt.upper()} ({type(exc).__name__}); check that it is a CSV with a "
            "header line or a Parquet file"
        ) from None
    return frame, fmt, delimiter


def inspect_file(path: Path, encoding: str = "utf-8") -> FileProfile:
    """Read ``path`` (at most :data:`MAX_ROWS` rows) and guess every column.

    Raises:
        ConfigError: the file is missing, unreadable, empty or has no rows, saying what to do.
    """
    frame, fmt, delimiter = _read(Path(path), encoding)
    if frame.empty:
        raise ConfigError(f"{path} has a header but no rows; export the data with its rows")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path} names a column twice; give every column its own name")
    guesses = tuple(guess_column(str(name), frame[name]) for name in frame.columns)
    return FileProfile(Path(path), fmt, delimiter, len(frame), guesses)


def _id_match(values: pd.Series) -> tuple[str | None, float]:
    best: tuple[str | None, float] = (None, 0.0)
    for id_type in ID_TYPES:
        share = float(normalise(values, id_type).notna().mean())
        if share > best[1]:
            best = (id_type, share)
    return best if best[1] >= ID_VALID_SHARE else (None, best[1])


def guess_column(name: str, col: pd.Series) -> ColumnGuess:
    """One column's guess (see the module docstring); ``col`` as read (strings for a CSV)."""
    present = col.dropna()
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col.dtype):
        return ColumnGuess(name, "timestamp", "date-times", int(present.nunique()))
    text = present.astype("string").str.strip()
    text = text[text != ""]
    if text.empty:
        return ColumnGuess(name, None, "empty: no values to go by", 0)
    distinct = int(text.nunique())
    unique = distinct == len(text) and len(text) >= MIN_ROWS_FOR_UNIQUE
    id_type, id_share = _id_match(text)
    if id_type is not None:
        how = "unique " if unique else ""
        return ColumnGuess(
            name,
            None,
            f"{id_share:.0%} of its values are valid {how}{id_type} IDs",
            distinct,
            unique=unique,
            id_type=id_type,
            id_share=id_share,
        )
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return _numeric(name, numbers, distinct, unique)
    if text.str.fullmatch(_ISO).all():
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
        if parsed.notna().all():
            return ColumnGuess(name, "timestamp", "ISO 8601 date-times", distinct)
    if unique:
        return ColumnGuess(name, None, "text, every value different: an identifier", distinct, unique=True)
    if distinct <= MAX_CATEGORIES and distinct <= max(2, len(text) // 2):
        cats = tuple(sorted(str(v) for v in text.unique()))
        return ColumnGuess(
            name, "categorical", f"text with {distinct} distinct values", distinct, categories=cats
        )
    return ColumnGuess(
        name, None, f"text with {distinct} distinct values: free text, not a category", distinct
    )


def _numeric(name: str, numbers: pd.Series, distinct: int, unique: bool) -> ColumnGuess:
    values = set(numbers.unique().tolist())
    integers = bool((numbers == numbers.round()).all())
    if values <= FLAG_VALUES:
        return ColumnGuess(
            name,
            "categorical",
            "0/1 flag",
            distinct,
            flag=True,
            categories=tuple(_code(v) for v in sorted(values)),
        )
    if unique and integers and _KEYISH.search(name.lower()):
        return ColumnGuess(
            name, None, "whole numbers, every one different: a row number", distinct, unique=True
        )
    if integers and distinct <= MAX_INT_CATEGORIES:
        cats = tuple(_code(v) for v in sorted(values))
        return ColumnGuess(
            name,
            "categorical",
            f"whole numbers with {distinct} distinct values: codes",
            distinct,
            categories=cats,
        )
    return ColumnGuess(name, "numeric", "numbers", distinct, unique=unique)


def _code(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)
