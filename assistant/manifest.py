"""Manifests: batches as rows of a CSV, JSON Lines or Parquet file.

A row has the fields of a YAML job (assistant.batch): ``image``, ``instructions`` (or
``instruction``), optional ``output``, ``name`` and run options. Relative paths are relative to
the manifest's folder. Empty cells (CSV) and nulls (JSONL, Parquet) mean "not set".

* **CSV** (UTF-8, header row): ``instructions`` is one instruction, or a JSON list of them
  (``["denoise the whole photo", "a bit stronger"]``); option cells are read as JSON values when
  they parse (``true``, ``20``, ``[[120, 80]]``) and as text otherwise (``offline``).
* **JSONL**: one JSON object per line, blank lines skipped.
* **Parquet**: columns of the same names; needs ``pyarrow`` (``pip install pyarrow``).

``read_rows`` returns ``(where, label, fields)`` per row, where ``where`` names the file and the
row number (1 = the first data row) for error messages. A row that is not even readable (bad
JSON, a CSV row with extra cells) raises BatchFileError here; the fields themselves are checked
by assistant.batch.parse_job, before any job runs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from assistant.jobs import JOB_KEYS, BatchFileError
from assistant.options import short

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".parquet")
#: Largest manifest read: about a million rows of CSV.
MAX_MANIFEST_BYTES = 256_000_000
#: Fields whose CSV cells are text as written (never parsed as JSON).
_TEXT_FIELDS = {"image", "output", "name"}

Row = tuple[str, str, dict[str, Any]]


def read_rows(path: Path) -> list[Row]:
    """Every row of the manifest at ``path``; raises BatchFileError naming the row."""
    if not path.is_file():
        raise BatchFileError(f"No manifest at '{path}'.")
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise BatchFileError(f"'{path}' is {size:,} bytes; manifests are limited to "
                             f"{MAX_MANIFEST_BYTES:,} bytes. Split it into several files.")
    suffix = path.suffix.lower()
    rows = _csv_rows(path) if suffix == ".csv" else (
        _jsonl_rows(path) if suffix == ".jsonl" else _parquet_rows(path))
    if not rows:
        raise BatchFileError(f"'{path}' has no rows; each row needs 'image' and 'instructions'.")
    return [(where, label, _instructions_alias(fields, where)) for where, label, fields in rows]


def _instructions_alias(fields: dict[str, Any], where: str) -> dict[str, Any]:
    """``instruction`` (one) is accepted for ``instructions``; not both."""
    if "instruction" in fields:
        if "instructions" in fields:
            raise BatchFileError(f"{where}: give 'instruction' or 'instructions', not both")
        fields["instructions"] = fields.pop("instruction")
    return fields


def _check_columns(path: Path, columns: list[str]) -> None:
    allowed = JOB_KEYS | {"instruction"}
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise BatchFileError(f"{path}: unknown columns {short(unknown, 80)}; allowed: {sorted(allowed)}")
    if "image" not in columns or not {"instruction", "instructions"} & set(columns):
        raise BatchFileError(f"{path}: the columns must include 'image' and 'instructions' "
                             f"(or 'instruction'); got {short(columns, 80)}")


def _csv_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return []
            header = [h.strip() for h in header]
            _check_columns(path, header)
            for n, cells in enumerate(reader, 1):
                where = f"{path}, row {n} (line {reader.line_num})"
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    raise BatchFileError(f"{where}: {len(cells)} cells for {len(header)} columns "
                                         "(quote cells that contain commas)")
                fields = {key: _cell(key, value) for key, value in zip(header, cells, strict=False)
                          if value.strip()}
                rows.append((where, f"row {n}", fields))
    except UnicodeDecodeError as err:
        raise BatchFileError(f"'{path}' is not UTF-8 text: {err}") from err
    except csv.Error as err:
        raise BatchFileError(f"'{path}' is not valid CSV: {short(str(err), 200)}") from err
    return rows


def _cell(key: str, value: str) -> Any:
    """A CSV cell → its value: paths and names as text, a JSON list of instructions, options as JSON
    when they parse (so ``true`` is a boolean and ``20`` a number), else as text."""
    if key in _TEXT_FIELDS or (key in ("instruction", "instructions")
                               and not value.lstrip().startswith("[")):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
    except RecursionError:  # ``[[[[...`` thousands deep: not a value any field takes
        return value


def _jsonl_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise BatchFileError(f"'{path}' is not UTF-8 text: {err}") from err
    n = 0
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        n += 1
        where = f"{path}, row {n} (line {line_no})"
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as err:
            raise BatchFileError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from err
        except RecursionError:
            raise BatchFileError(f"{where}: the JSON nests too deeply to read; rows are flat "
                                 "objects of short values") from None
        if not isinstance(fields, dict):
            raise BatchFileError(f"{where}: each line must be a JSON object, got {short(fields)}")
        rows.append((where, f"row {n}", {k: v for k, v in fields.items() if v is not None}))
    return rows


def _parquet_rows(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise BatchFileError(f"'{path}' is a Parquet manifest, and reading Parquet needs pyarrow: "
                             "pip install pyarrow (or use a CSV or JSONL manifest).") from err
    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise BatchFileError(f"'{path}' is not a readable Parquet file: {short(str(err), 200)}") from err
    _check_columns(path, list(table.column_names))
    return [(f"{path}, row {n}", f"row {n}", {k: v for k, v in fields.items() if v is not None})
            for n, fields in enumerate(table.to_pylist(), 1)]
