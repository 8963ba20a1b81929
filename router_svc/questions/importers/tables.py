"""Read a data file as rows of plain values: JSON (a list), JSONL, CSV/TSV, Parquet, pickle.

Every row keeps where it came from (``file line N`` or ``file row N``) so that a problem can
name the file and row. Parquet needs pyarrow and a pickled pandas frame needs pandas, both from
the ``import`` extra; a pickle runs code when it is read, so it is read only when the caller
says the file is trusted.
"""

from __future__ import annotations

import csv
import importlib
import math
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from router_svc.config.extras import missing_extra
from router_svc.errors import DataError
from router_svc.questions.jsonl import as_object, parse_jsonl
from router_svc.questions.suites import _list_items, _read_text

JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
PICKLE_SUFFIXES = (".pkl", ".pickle")
SUFFIXES = JSON_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES + PICKLE_SUFFIXES


@dataclass(frozen=True)
class Row:
    """One record of an input file: its values and where it is (for error messages)."""

    path: Path
    where: str
    values: dict[str, Any]


def read_table(path: Path, *, trust_pickle: bool = False) -> list[Row]:
    """Every row of ``path``, chosen by its suffix; DataError names the file (and line)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        known = ", ".join(SUFFIXES)
        raise DataError(f"{path}: unknown file type {suffix or '(none)'!r}; known: {known}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if suffix in PICKLE_SUFFIXES:
        return _pickle_rows(path, trust_pickle)
    if suffix in PARQUET_SUFFIXES:
        return _frame_rows(path, _parquet_records(path))
    if suffix in CSV_SUFFIXES:
        return list(_csv_rows(path, delimiter="\t" if suffix == ".tsv" else ","))
    return list(_json_rows(path))


def _json_rows(path: Path) -> Iterator[Row]:
    text = _read_text(path)
    where = str(path)
    is_list = text.lstrip().startswith("[")
    items = _list_items(text, where) if is_list else parse_jsonl(text, where)
    for line, value in items:
        yield Row(path, f"{where} line {line}", as_object(value, where, line))


def _csv_rows(path: Path, delimiter: str) -> Iterator[Row]:
    _read_text(path)  # a clear error for a missing or undecodable file
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        for number, record in enumerate(reader, start=1):
            if None in record:
                raise DataError(
                    f"{path} row {number} (line {reader.line_num}): more cells than the header"
                )
            values = {key: value for key, value in record.items() if value is not None}
            yield Row(path, f"{path} row {number} (line {reader.line_num})", values)


def _optional(module: str, what: str) -> ModuleType:
    """Import a module of an extra; a missing one names the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = missing_extra(exc, what)
        if error is None:
            raise
        raise error from exc


def _parquet_records(path: Path) -> list[dict[str, Any]]:
    parquet = _optional("pyarrow.parquet", "reading Parquet files")
    try:
        records: list[dict[str, Any]] = parquet.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises its own error types for a bad file
        raise DataError(f"{path}: cannot read as Parquet: {exc}") from exc
    return records


def _pickle_rows(path: Path, trust_pickle: bool) -> list[Row]:
    if not trust_pickle:
        raise DataError(
            f"{path}: reading a pickle runs any code inside it; pass --trust-pickle "
            "(trust_pickle=True) only for a file you trust"
        )
    pandas = _optional("pandas", "reading pickled pandas frames")
    try:
        frame = pandas.read_pickle(path)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise DataError(f"{path}: cannot read as a pickled pandas frame: {exc}") from exc
    if not isinstance(frame, pandas.DataFrame):
        raise DataError(f"{path}: expected a pickled pandas DataFrame, got {type(frame).__name__}")
    records: list[dict[str, Any]] = frame.to_dict(orient="records")
    return _frame_rows(path, records)


def _frame_rows(path: Path, records: list[dict[str, Any]]) -> list[Row]:
    """Rows of a columnar file, with NaN and numpy scalars turned into plain values."""
    return [
        Row(path, f"{path} row {number}", {str(k): _plain(v) for k, v in record.items()})
        for number, record in enumerate(records, start=1)
    ]


def _plain(value: Any) -> Any:
    """None for NaN, Python scalars for numpy ones, lists for arrays."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
