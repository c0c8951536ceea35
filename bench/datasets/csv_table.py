"""The ``csv`` adapter for a user's own table of reports, and the table reader all adapters share.

``read_table`` reads CSV files, gzip-compressed or not, with pandas when it is installed and
with the standard library otherwise. Both paths return every cell as a string, blank cells
as ``""``.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from bench.config import DatasetOptions
from bench.datasets import DATASETS
from bench.datasets.sections import build_corpus, normalize_whitespace, parse_binary_label
from bench.records import Corpus, Report

try:
    import pandas
except ImportError:  # pandas is optional, so the standard library reads the files without it
    pandas = None

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class Table:
    """Rows of one tabular file.

    Attributes:
        path: The file that was read.
        columns: Column names in file order.
        rows: One dict per data row, keyed by column name. CSV cells are strings, and JSONL
            values keep their JSON type.
    """

    path: Path
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


def read_table(path: Path) -> Table:
    """Read a CSV file (``.csv`` or ``.csv.gz``) into a ``Table`` of string cells.

    Raises:
        FileNotFoundError: when the file does not exist.
    """
    if not path.is_file():
        raise FileNotFoundError(f"table file {path} was not found.")

    if pandas is not None:
        frame = pandas.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
        columns = tuple(str(column) for column in frame.columns)
        rows = frame.to_dict("records")
    else:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = tuple(reader.fieldnames or ())
            # A short row gives None for its missing cells, stored as blank like pandas does.
            rows = [{key: value or "" for key, value in row.items()} for row in reader]

    logger.debug("read %d rows and %d columns from %s", len(rows), len(columns), path.name)
    return Table(path, columns, rows)


def read_jsonl(path: Path) -> Table:
    """Read a JSON Lines file, one JSON object per line, into a ``Table``.

    Blank lines are skipped. Columns are the keys in order of first appearance.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when a line is not a JSON object, naming the line number.
    """
    if not path.is_file():
        raise FileNotFoundError(f"table file {path} was not found.")

    rows: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    with open(path, encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}: line {line_number} is not valid JSON ({error.msg} at column {error.colno}). "
                    "Write one JSON object per line."
                ) from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {line_number} is not a JSON object; write one object per line.")
            rows.append(row)
            columns.update(dict.fromkeys(row))

    return Table(path, tuple(columns), rows)


def require_columns(table: Table, required: Sequence[str], *, hint: str) -> None:
    """Raise ValueError listing the missing and the found columns unless ``table`` has all of ``required``.

    ``hint`` ends the message and should name the fix. Column names are not patient data, so the
    message may list them.
    """
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ValueError(
            f"{table.path}: missing columns {missing}; the file has columns {list(table.columns)}. {hint}"
        )


def _resolve_table_path(data_dir: Optional[Path]) -> Path:
    """Return the CSV or JSONL file that ``data_dir`` names, directly or as the only table in a folder."""
    if data_dir is None:
        raise ValueError(
            "the csv dataset needs a file; pass --data-dir pointing at a .csv or .jsonl file "
            "(or a folder that contains exactly one)."
        )
    if data_dir.is_dir():
        candidates = sorted(path for path in data_dir.iterdir() if path.suffix in TABLE_SUFFIXES)
        if len(candidates) != 1:
            raise ValueError(
                f"folder {data_dir} contains {len(candidates)} .csv/.jsonl files; it must contain exactly one, "
                "or pass --data-dir pointing at the file itself."
            )
        return candidates[0]
    if not data_dir.exists():
        raise FileNotFoundError(
            f"{data_dir} was not found; pass --data-dir pointing at a .csv or .jsonl file of reports."
        )
    if data_dir.suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{data_dir} is neither a .csv nor a .jsonl file; convert it or pass another --data-dir.")
    return data_dir


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _row_ids(row: dict[str, Any], row_number: int, options: DatasetOptions, path: Path) -> tuple[str, str]:
    """Return the report id and patient id of one row, raising ValueError on a blank id cell."""
    report_id = _cell_text(row.get(options.id_column)) if options.id_column else f"row{row_number}"
    if not report_id.strip():
        raise ValueError(
            f"{path}: data row {row_number} has a blank id in column {options.id_column!r}; fill it or "
            "set id_column to None to number the rows."
        )
    patient_id = _cell_text(row.get(options.patient_column)) if options.patient_column else report_id
    if not patient_id.strip():
        raise ValueError(
            f"{path}: data row {row_number} has a blank patient id in column {options.patient_column!r}. "
            "Splits keep each patient on one side, so fill the column or set patient_column to None."
        )
    return report_id, patient_id


@DATASETS.register("csv")
def load_csv_table(data_dir: Optional[Path], options: DatasetOptions) -> Corpus:
    """Load reports and 0/1 labels from a user's CSV or JSONL file.

    ``options.text_column`` names the report text, used as given apart from whitespace
    normalisation. ``options.label_columns`` name the label columns, which become the label set
    in that order. Each report's id comes from ``options.id_column`` or, without it, from the row
    number, and its patient id from ``options.patient_column`` or, without it, from the report id.
    """
    if not options.label_columns:
        raise ValueError(
            "the csv dataset needs label columns; pass --label-columns A,B,C with the names of the "
            "0/1 label columns."
        )
    path = _resolve_table_path(data_dir)
    table = read_jsonl(path) if path.suffix == ".jsonl" else read_table(path)

    required = [options.text_column, *options.label_columns]
    required += [column for column in (options.id_column, options.patient_column) if column]
    require_columns(
        table,
        required,
        hint="Check --text-column, --label-columns, id_column and patient_column against the file header.",
    )

    reports = []
    seen_ids: set[str] = set()
    for row_number, row in enumerate(table.rows, start=1):
        report_id, patient_id = _row_ids(row, row_number, options, path)
        if report_id in seen_ids:
            raise ValueError(
                f"{path}: column {options.id_column!r} repeats a value in data row {row_number}; report ids "
                "must be unique, so pick another id_column or set it to None to number the rows."
            )
        seen_ids.add(report_id)
        labels = np.array(
            [parse_binary_label(row.get(column), column=column) for column in options.label_columns],
            dtype=np.float32,
        )
        text = normalize_whitespace(_cell_text(row.get(options.text_column)))
        reports.append(Report(report_id, patient_id, text, labels, np.ones_like(labels)))

    notes = {"rows_read": len(table.rows), "text_column": options.text_column}
    return build_corpus(
        "csv",
        options.label_columns,
        reports,
        options=options,
        notes=notes,
        source=str(path),
        check_hint=f"Check that --text-column {options.text_column!r} names the column with the report text.",
    )
