"""Reading a dropped file: is it a readable, comma-separated UTF-8 CSV with a header and rows?

Structure only, with a reason a person can act on; the data contract (columns, types,
ranges) is the Great Expectations suite (``tasks.quality.contract``). Used by ingest and predict.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import pandas as pd


class UnreadableDrop(ValueError):
    """A dropped file that is not a readable CSV; the message says why, for a person."""


def read_drop(path: Path, *, display_name: str | None = None) -> pd.DataFrame:
    """Parse a dropped file as a comma-separated UTF-8 CSV with a header and data rows.

    Raises ``UnreadableDrop`` with a reason a person can act on.
    """
    name = display_name or path.name
    if not name.lower().endswith(".csv"):
        raise UnreadableDrop(f"'{name}' is not a .csv file: only CSV files are accepted")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableDrop("the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    if b"\x00" in head:
        raise UnreadableDrop("the file contains binary data (NUL bytes); expected a text CSV")
    try:
        head_text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 64 KiB boundary is fine; anything earlier is not UTF-8.
        if exc.start < len(head) - 4:
            raise UnreadableDrop(_not_utf8(exc)) from None
        head_text = head[: exc.start].decode("utf-8")
    header_line = head_text.lstrip("\ufeff").splitlines()[0] if head_text.strip() else ""
    header = next(csv.reader(io.StringIO(header_line)), [])
    if not any(h.strip() for h in header):
        raise UnreadableDrop("the first line is blank: expected a header row of column names")
    if len(header) == 1:
        for sep, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in header[0]:
                raise UnreadableDrop(
                    f"the file is {label}-delimited; expected comma-separated values. Fix: save it "
                    "as CSV with ',' between values and '.' as the decimal separator"
                )
        raise UnreadableDrop(f"the header has a single column ({header[0]!r}); expected comma-separated values")
    if all(looks_like_number(h) for h in header if h.strip()):
        shown = ", ".join(h.strip() for h in header[:4])
        raise UnreadableDrop(
            f"the first row looks like data, not column names ({shown}, ...): add a header row with the data set's column names"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise UnreadableDrop(f"the header repeats column name(s) {duplicated}")
    try:
        with warnings.catch_warnings():
            # index_col=False: a too-wide first row must not become an index; pandas then
            # warns that it would drop fields, which is an error here.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=",", encoding="utf-8-sig", encoding_errors="strict", index_col=False)
    except pd.errors.ParserWarning:
        raise UnreadableDrop(f"malformed CSV: a row has more fields than the header's {len(header)}") from None
    except UnicodeDecodeError as exc:
        raise UnreadableDrop(_not_utf8(exc)) from None
    except pd.errors.ParserError as exc:
        raise UnreadableDrop(f"malformed CSV: {exc}".strip()) from None
    except pd.errors.EmptyDataError:
        raise UnreadableDrop("the file has no CSV content") from None
    if frame.empty:
        raise UnreadableDrop("the file has a header but no data rows")
    return frame


def row_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the rows as parsed: the same whatever the encoding (BOM, CRLF, quoting),
    the order of the columns or of the rows, and whether a number was written 5 or 5.0."""
    import hashlib

    import numpy as np

    columns = sorted(str(c) for c in frame.columns)
    normal = frame.set_axis([str(c) for c in frame.columns], axis=1)[columns]
    normal = normal.astype({c: "float64" for c in columns if normal[c].dtype.kind in "iuf"})
    rows = np.sort(pd.util.hash_pandas_object(normal, index=False).to_numpy())
    digest = hashlib.sha256("\x1f".join(columns).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def without_index_column(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Drop a leading unnamed integer column: the row index pandas' ``to_csv`` writes by
    default. Returns the frame and a note saying what was dropped (``None``: nothing)."""
    first = frame.columns[0]
    unnamed = str(first).strip() == "" or str(first).startswith("Unnamed: 0")
    if not unnamed or frame[first].dtype.kind not in "iu" or not frame[first].is_unique:
        return frame, None
    return frame.drop(columns=[first]), "dropped the first column: unnamed and holding unique integers, a pandas row index"


NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def looks_like_number(text: str) -> bool:
    return bool(NUMBER.match(text))


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"the file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8 CSV"
