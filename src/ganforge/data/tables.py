"""Tables read defensively from CSV or Parquet (or taken from a pandas DataFrame), with column kinds.

:func:`read_table` returns a :class:`Table`: a DataFrame whose columns hold typed values and the
:data:`COLUMN_KINDS` kind of each column, inferred from the values, never from the names:

- ``boolean``: every present value is ``true``/``false`` (any case) or a bool;
- ``integer``: every present value is a whole number written without a decimal point (nullable Int64);
- ``continuous``: every present value is a number (float64);
- ``datetime``: every present value is an ISO 8601 date or date and time;
- ``categorical``: anything else, as text. A column that mixes numbers and words is categorical:
  each distinct text is one category (``1``, ``2`` and ``x`` are three categories).

Missing values stay missing (``<NA>``/NaN): an empty field, ``NA``, ``N/A``, ``NaN``, ``null``,
``None`` (any case) in text; nulls in Parquet. A file is checked before it is parsed: its size, its
encoding (UTF-8, a byte-order mark allowed), NUL bytes, a header of named, distinct columns, rows
as wide as the header, and the row and column limits of :class:`TableLimits`. A user mistake is one
line (:class:`BadTable`) naming the table and what is accepted.

pandas (and pyarrow for Parquet) come with the ``tabular`` extra and are imported only when a
table is read, so ``import ganforge`` stays light.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GanforgeError

if TYPE_CHECKING:
    import pandas as pd

COLUMN_KINDS = ("continuous", "integer", "boolean", "categorical", "datetime")
NUMERIC_KINDS = ("continuous", "integer")
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>", "nat"})
TABULAR_EXTRA = "pip install 'ganforge[tabular]'"
_INTEGER = re.compile(r"^[+-]?\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_PARQUET_MAGIC = b"PAR1"


class BadTable(GanforgeError):
    """A table that cannot be used: unreadable, badly encoded, empty, too large, a missing column."""


MAX_ROWS = 1_000_000  # a table's rows and columns, wherever one is read (files here, uploads in service.media)
MAX_COLUMNS = 1_000


@dataclass(frozen=True)
class TableLimits:
    """What one table may be: bytes of its file, rows, columns; ``min_rows``: the fewest rows
    that make sense (an audit needs 2 to compare distributions)."""

    max_bytes: int = 256 * 2**20
    max_rows: int = MAX_ROWS
    max_columns: int = MAX_COLUMNS
    min_rows: int = 2


DEFAULT_LIMITS = TableLimits()


@dataclass
class Table:
    """A table: ``frame`` (typed columns, missing values as NA) and the kind of each column."""

    frame: "pd.DataFrame"
    kinds: dict[str, str]  # column name -> one of COLUMN_KINDS, in the frame's column order
    label: str = "table"  # how messages name it ("real", "synthetic.csv")
    facts: dict[str, Any] = field(default_factory=dict)  # where it came from: format, bytes

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)


def require_pandas():
    """pandas, or one line naming the extra that brings it."""
    try:
        import pandas as pd
    except ImportError:
        raise GanforgeError(f"tables need pandas: {TABULAR_EXTRA}") from None
    return pd


def read_table(source: "str | Path | bytes | pd.DataFrame | Table", *, label: str | None = None,
               limits: TableLimits = DEFAULT_LIMITS) -> Table:
    """A :class:`Table` from a CSV or Parquet file (path or bytes) or a DataFrame.

    The format is Parquet when the bytes start with ``PAR1``, else CSV (``,`` separated, UTF-8).
    ``label`` names the table in messages (default: the file name). Raises :class:`BadTable`.
    """
    pd = require_pandas()
    if isinstance(source, Table):
        return source
    if isinstance(source, pd.DataFrame):
        label = label or "table"
        _check_shape(label, list(map(str, source.columns)), len(source), limits)
        frame = source.copy()
        frame.columns = [str(c) for c in frame.columns]
        return _typed(frame, label, {"format": "DataFrame"})
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), label or "table"
    else:
        path = Path(source)
        label = label or path.name
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:
                raise BadTable(f"{label}: {size / 2**20:.1f} MiB; at most {limits.max_bytes / 2**20:.0f} MiB")
            data = path.read_bytes()
        except IsADirectoryError:
            raise BadTable(f"{label}: is a folder; give a CSV or Parquet file") from None
        except OSError as err:
            raise BadTable(f"{label}: cannot read the file ({err.strerror or err})") from None
    if len(data) > limits.max_bytes:
        raise BadTable(f"{label}: {len(data) / 2**20:.1f} MiB; at most {limits.max_bytes / 2**20:.0f} MiB")
    if data[:4] == _PARQUET_MAGIC:
        return _read_parquet(data, label, limits)
    return _read_csv(data, label, limits)


def _check_columns(label: str, names: list[str], limits: TableLimits) -> None:
    if not names:
        raise BadTable(f"{label}: an empty table: the first line must name the columns")
    if len(names) > limits.max_columns:
        raise BadTable(f"{label}: {len(names)} columns; at most {limits.max_columns}")
    if any(not n.strip() for n in names) or len(set(names)) != len(names):
        raise BadTable(f"{label}: every column needs a name of its own in the header")


def _check_shape(label: str, names: list[str], rows: int, limits: TableLimits) -> None:
    _check_columns(label, names, limits)
    if rows > limits.max_rows:
        raise BadTable(f"{label}: {rows} rows; at most {limits.max_rows}")
    if rows == 0:
        raise BadTable(f"{label}: the table has a header but no rows")
    if rows < limits.min_rows:
        raise BadTable(f"{label}: {rows} row{'s' if rows != 1 else ''}; at least {limits.min_rows} are needed")


def _read_csv(data: bytes, label: str, limits: TableLimits) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadTable(f"{label}: not UTF-8 text (byte {err.start}); save the table as UTF-8 CSV or Parquet") from None
    if "\x00" in text:
        raise BadTable(f"{label}: not a text table (it holds NUL bytes); accepted: UTF-8 CSV or Parquet")
    rows: list[list[str]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise BadTable(f"{label}: an empty table: the first line must name the columns")
        names = [h.strip() for h in header]
        _check_columns(label, names, limits)
        for count, row in enumerate(reader, start=1):
            if not row:
                continue  # a blank line (the csv module gives []), e.g. a trailing one
            if count > limits.max_rows:
                raise BadTable(f"{label}: more than {limits.max_rows} rows")
            if len(row) != len(names):
                raise BadTable(f"{label}: row {count} has {len(row)} fields; the header has {len(names)}")
            rows.append(row)
    except csv.Error as err:
        raise BadTable(f"{label}: not a valid CSV table: {err}") from None
    _check_shape(label, names, len(rows), limits)
    pd = require_pandas()
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    return _typed(frame, label, {"format": "CSV", "bytes": len(data)})


def _read_parquet(data: bytes, label: str, limits: TableLimits) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise GanforgeError(f"Parquet tables need pyarrow: {TABULAR_EXTRA}") from None
    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        _check_shape(label, [str(n) for n in meta.schema.names], meta.num_rows, limits)
        frame = pq.read_table(io.BytesIO(data)).to_pandas()
    except BadTable:
        raise
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise BadTable(f"{label}: not a readable Parquet file ({type(err).__name__}: {str(err)[:120]})") from None
    frame.columns = [str(c) for c in frame.columns]
    return _typed(frame, label, {"format": "Parquet", "bytes": len(data)})


def _typed(frame: "pd.DataFrame", label: str, facts: dict[str, Any]) -> Table:
    kinds = {}
    for name in frame.columns:
        frame[name], kinds[name] = convert_column(frame[name])
    return Table(frame=frame.reset_index(drop=True), kinds=kinds, label=label, facts=facts)


def convert_column(values: "pd.Series", kind: str | None = None) -> tuple["pd.Series", str]:
    """The column as typed values and its kind (inferred when ``kind`` is None; else converted
    to that kind, a value that does not fit raising ``ValueError`` naming it)."""
    pd = require_pandas()
    s = values
    if kind is None:
        kind = infer_kind(s)
    if kind == "categorical":
        text = s.map(lambda v: None if _missing(v) else _text(v))
        return text.astype(object).where(text.notna(), None), kind
    present = s[~s.map(_missing)]
    if kind == "boolean":
        def to_bool(v):
            if _missing(v):
                return pd.NA
            if isinstance(v, (bool,)) or type(v).__name__ == "bool_":
                return bool(v)
            t = str(v).strip().lower()
            if t in ("true", "false"):
                return t == "true"
            if t in ("1", "0", "1.0", "0.0"):
                return t.startswith("1")
            raise ValueError(f"{v!r} is not true or false")
        return s.map(to_bool).astype("boolean"), kind
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s):
            out = s
        else:
            try:
                out = pd.to_datetime(s.map(lambda v: None if _missing(v) else str(v).strip()), format="ISO8601",
                                     utc=False)
            except (ValueError, TypeError) as err:
                raise ValueError(f"not an ISO 8601 date ({err})") from None
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[ns]"), kind
    # numeric kinds
    def to_float(v):
        if _missing(v):
            return float("nan")
        if isinstance(v, bool):
            return float(v)
        try:
            return float(str(v).strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{v!r} is not a number") from None
    numbers = s.map(to_float).astype("float64")
    if kind == "integer":
        whole = numbers.dropna()
        if len(present) and not (whole == whole.round()).all():
            bad = whole[whole != whole.round()].iloc[0]
            raise ValueError(f"{bad!r} is not a whole number")
        return numbers.astype("Int64"), kind
    return numbers, kind


def infer_kind(s: "pd.Series") -> str:
    """The kind of a column from its dtype, or for text from every present value (module docstring)."""
    pd = require_pandas()
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "continuous"
    present = [v for v in s if not _missing(v)]
    if not present:
        return "continuous"  # all missing: no value says otherwise
    if all(isinstance(v, bool) or type(v).__name__ == "bool_" for v in present):
        return "boolean"
    if not all(isinstance(v, str) for v in present):
        # Python objects of several types (Parquet object columns): typed as their text
        return "categorical" if any(isinstance(v, str) for v in present) else infer_kind(
            pd.Series([str(v) for v in present]))
    text = [v.strip() for v in present]
    if all(t.lower() in ("true", "false") for t in text):
        return "boolean"
    if all(_INTEGER.match(t) for t in text):
        return "integer"
    if all(_is_float(t) for t in text):
        return "continuous"
    if all(_ISO_DATE.match(t) for t in text):
        try:
            pd.to_datetime(pd.Series(text), format="ISO8601")
            return "datetime"
        except (ValueError, TypeError):
            pass
    return "categorical"


def _is_float(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return t.lower().lstrip("+-") not in ("inf", "infinity", "nan")  # words, not measurements


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip().lower() in MISSING_TOKENS
    try:
        pd = require_pandas()
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _text(v: Any) -> str:
    return v.strip() if isinstance(v, str) else str(v)


def align(table: Table, reference: Table) -> Table:
    """``table`` with ``reference``'s columns, in its order and of its kinds (a synthetic table read
    against the real one): a missing or extra column, or a value that does not fit the reference's
    kind, is one line naming it."""
    missing = [c for c in reference.columns if c not in table.kinds]
    extra = [c for c in table.columns if c not in reference.kinds]
    if missing or extra:
        parts = ([f"lacks {_names(missing)}"] if missing else []) + ([f"has extra {_names(extra)}"] if extra else [])
        raise BadTable(f"{table.label}: {' and '.join(parts)}; it needs the columns of {reference.label}: "
                       f"{_names(reference.columns)}")
    frame = table.frame[reference.columns].copy()
    for name, kind in reference.kinds.items():
        have = table.kinds[name]
        if have == kind or (have in NUMERIC_KINDS and kind in NUMERIC_KINDS):
            continue  # 3 and 3.0 are the same number: another tool may write integers as floats
        try:
            frame[name], _ = convert_column(frame[name].astype(object), kind)
        except ValueError as err:
            raise BadTable(f"{table.label}: column '{name}' must be {kind} like in {reference.label}: {err}") from None
    return Table(frame=frame, kinds=dict(reference.kinds), label=table.label, facts=table.facts)


def _names(names: list[str], most: int = 8) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
