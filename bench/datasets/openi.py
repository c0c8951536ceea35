"""The ``openi`` adapter: Indiana University chest X-ray reports with the NegBio gold labels.

Open-i has no patient key, so each report's ``uid`` serves as its patient id. Patient-disjoint
splits are then report-disjoint, and two reports of one person could fall on both sides.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from bench.config import DatasetOptions
from bench.datasets import DATASETS
from bench.datasets.csv_table import read_table, require_columns
from bench.datasets.sections import build_corpus, compose_text, parse_binary_label
from bench.records import Corpus, Report

logger = logging.getLogger(__name__)

REPORTS_FILE = "indiana_reports.csv"
LABELS_FILE = "openi_gld_std14.csv"

# The ChestX-ray14 labels of the gold file. The label set keeps the file's column order.
CHESTXRAY14_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
NORMAL_COLUMN = "normal"
NO_FINDING = "No Finding"

_DATA_DIR_HINT = f"pass --data-dir pointing at the folder that contains both {REPORTS_FILE} and {LABELS_FILE}."


def _require_file(data_dir: Optional[Path], name: str) -> Path:
    if data_dir is None:
        raise FileNotFoundError(f"the openi dataset needs its CSV files; {_DATA_DIR_HINT}")
    path = data_dir / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} was not found; {_DATA_DIR_HINT}")
    return path


@DATASETS.register("openi")
def load_openi(data_dir: Optional[Path], options: DatasetOptions) -> Corpus:
    """Load the Open-i reports joined with the NegBio gold standard.

    The gold file's ``filename`` is ``CXR<uid>`` and joins one to one with the reports' ``uid``.
    The label set is the 14 ChestX-ray14 columns in file order, then ``No Finding`` from the
    ``normal`` column. Labels without positives stay in the set and are listed in
    ``notes["labels_without_positives"]``. The text is the impression, then the findings.
    Report ids are ``CXR<uid>``.
    """
    reports_table = read_table(_require_file(data_dir, REPORTS_FILE))
    labels_table = read_table(_require_file(data_dir, LABELS_FILE))
    require_columns(reports_table, ("uid", "findings", "impression"), hint=f"Use the Open-i {REPORTS_FILE}.")
    require_columns(
        labels_table,
        ("filename", *CHESTXRAY14_LABELS, NORMAL_COLUMN),
        hint=f"Use the NegBio {LABELS_FILE} with the 14 ChestX-ray14 columns and 'normal'.",
    )

    finding_columns = [column for column in labels_table.columns if column in CHESTXRAY14_LABELS]
    extra_columns = [
        column for column in labels_table.columns if column not in (*CHESTXRAY14_LABELS, NORMAL_COLUMN, "filename")
    ]
    if extra_columns:
        logger.warning("openi: ignoring %d unknown label columns %s", len(extra_columns), extra_columns)
    label_columns = [*finding_columns, NORMAL_COLUMN]
    label_names = (*finding_columns, NO_FINDING)

    labels_by_uid: dict[str, np.ndarray] = {}
    for row in labels_table.rows:
        filename = row["filename"].strip()
        uid = filename[3:] if filename.startswith("CXR") else filename
        if uid in labels_by_uid:
            raise ValueError(
                f"{labels_table.path}: the filename column repeats a value; each report must have one label row."
            )
        labels_by_uid[uid] = np.array(
            [parse_binary_label(row[column], column=column) for column in label_columns], dtype=np.float32
        )

    reports = []
    seen_uids: set[str] = set()
    for row in reports_table.rows:
        uid = row["uid"].strip()
        if uid in seen_uids:
            raise ValueError(f"{reports_table.path}: the uid column repeats a value; uids must be unique.")
        seen_uids.add(uid)
        labels = labels_by_uid.get(uid)
        if labels is None:
            continue
        reports.append(
            Report(
                report_id=f"CXR{uid}",
                patient_id=uid,
                text=compose_text(row["impression"], row["findings"]),
                labels=labels,
                mask=np.ones_like(labels),
            )
        )

    notes = {
        "rows_read": len(reports_table.rows),
        "reports_without_labels": len(reports_table.rows) - len(reports),
        "labels_without_report": len(set(labels_by_uid) - seen_uids),
        "label_source": f"{LABELS_FILE} (NegBio gold standard); '{NORMAL_COLUMN}' is stored as '{NO_FINDING}'",
        "patient_key": "uid (Open-i has no patient key)",
    }
    corpus = build_corpus(
        "openi",
        label_names,
        reports,
        options=options,
        notes=notes,
        source=f"{reports_table.path} and {labels_table.path}",
        check_hint="Check that the findings and impression columns are filled and that filename is CXR<uid>.",
    )

    # Counted on the loaded corpus, after empty reports and the max_reports sample are gone.
    positives = corpus.label_matrix().sum(axis=0)
    corpus.notes["labels_without_positives"] = [
        name for name, count in zip(corpus.label_names, positives) if count == 0
    ]
    return corpus
