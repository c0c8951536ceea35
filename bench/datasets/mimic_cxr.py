"""The ``mimic-cxr`` adapter: MIMIC-CXR free-text reports with the CheXpert or NegBio study labels.

MIMIC-CXR is credentialed data, so nothing of it is shipped. The adapter reads the official
layout from ``data_dir``: the report tree ``files/pXX/pNNNNNNNN/sNNNNNNNN.txt`` (XX is the first
two digits of the subject id), a label file and, optionally, the official split file.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from bench.config import DatasetOptions
from bench.datasets import DATASETS
from bench.datasets.csv_table import Table, read_table, require_columns
from bench.datasets.sections import CHEXPERT_LABELS, build_corpus, chexpert_to_label, select_model_text
from bench.records import Corpus, Report

logger = logging.getLogger(__name__)

# Label files in order of preference: the CheXpert labeler's output, then NegBio's.
LABEL_FILES: tuple[str, ...] = (
    "mimic-cxr-2.0.0-chexpert.csv.gz",
    "mimic-cxr-2.0.0-chexpert.csv",
    "mimic-cxr-2.0.0-negbio.csv.gz",
    "mimic-cxr-2.0.0-negbio.csv",
)
SPLIT_FILES: tuple[str, ...] = ("mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-split.csv")
OFFICIAL_SPLITS: tuple[str, ...] = ("train", "validate", "test")

_DATA_DIR_HINT = (
    "pass --data-dir pointing at the MIMIC-CXR folder that contains the files/ report tree and "
    f"{LABEL_FILES[0]} (or one of {', '.join(LABEL_FILES[1:])})."
)


def _find_label_file(data_dir: Path) -> Path:
    for name in LABEL_FILES:
        if (data_dir / name).is_file():
            return data_dir / name
    raise FileNotFoundError(f"no MIMIC-CXR label file was found in {data_dir}; {_DATA_DIR_HINT}")


def _digits(value: str, *, column: str, row_number: int, path: Path) -> str:
    """Return the id cell stripped, or raise without echoing it, because ids are patient data."""
    value = value.strip()
    if value.endswith(".0"):  # a table exported with float columns writes 10000032.0
        value = value[:-2]
    if not value.isdigit():
        raise ValueError(
            f"{path}: column {column!r} in data row {row_number} is not a whole number; MIMIC-CXR "
            "subject and study ids are digits only."
        )
    return value


def _read_official_splits(path: Path, subject_by_study: dict[str, str]) -> dict[str, str]:
    """Return the official split of each study, checked against the label file's subjects.

    The split file has one row per image. All images of a study must share one split and the
    label file's subject.
    """
    table = read_table(path)
    require_columns(
        table,
        ("dicom_id", "study_id", "subject_id", "split"),
        hint="Use the official mimic-cxr-2.0.0-split.csv.gz or remove it; the suite makes its own splits.",
    )

    split_by_study: dict[str, str] = {}
    for row_number, row in enumerate(table.rows, start=1):
        split = row["split"].strip()
        if split not in OFFICIAL_SPLITS:
            raise ValueError(
                f"{path}: column 'split' contains the value {split!r}; allowed values are {OFFICIAL_SPLITS}."
            )
        study = _digits(row["study_id"], column="study_id", row_number=row_number, path=path)
        subject = _digits(row["subject_id"], column="subject_id", row_number=row_number, path=path)
        if split_by_study.setdefault(study, split) != split:
            raise ValueError(f"{path}: the images of the study in data row {row_number} lie in more than one split.")
        if study in subject_by_study and subject_by_study[study] != subject:
            raise ValueError(
                f"{path}: data row {row_number} gives a study another subject_id than the label file does; "
                "check that both files come from the same MIMIC-CXR release."
            )
    return split_by_study


def _label_rows(table: Table, policy: str) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Return (subject, study, labels, mask) for every label row, in file order."""
    rows = []
    seen_studies: set[str] = set()
    for row_number, row in enumerate(table.rows, start=1):
        subject = _digits(row["subject_id"], column="subject_id", row_number=row_number, path=table.path)
        study = _digits(row["study_id"], column="study_id", row_number=row_number, path=table.path)
        if study in seen_studies:
            raise ValueError(
                f"{table.path}: data row {row_number} repeats a study_id; the label file must have one row per study."
            )
        seen_studies.add(study)

        pairs = [chexpert_to_label(row[name], column=name, policy=policy) for name in CHEXPERT_LABELS]
        labels = np.array([label for label, _ in pairs], dtype=np.float32)
        mask = np.array([weight for _, weight in pairs], dtype=np.float32)
        rows.append((subject, study, labels, mask))
    return rows


@DATASETS.register("mimic-cxr")
def load_mimic_cxr(data_dir: Optional[Path], options: DatasetOptions) -> Corpus:
    """Load MIMIC-CXR reports with their study-level labels over the 14 CheXpert observations.

    Label cells follow the CheXpert convention, and ``options.uncertain_policy`` maps -1.0
    (uncertain). A blank cell means not mentioned and counts as negative.
    The text follows the labels' section choice (impression, else findings, else the last
    paragraph), with the findings after the impression when both exist. A labelled study
    without a report file is skipped and counted in ``notes["skipped_missing_report"]``.
    Report ids are ``s<study_id>`` and patient ids ``p<subject_id>``. When the official split
    file is present, ``notes["official_split_reports"]`` counts the loaded reports per split.
    The file-reading progress bar follows tqdm's settings, so ``TQDM_DISABLE=1`` turns it off.

    NOTE: tested on look-alike fixtures written from the documented layout, not on the real
    release.
    """
    if data_dir is None:
        raise FileNotFoundError(f"the mimic-cxr dataset needs its files; {_DATA_DIR_HINT}")
    label_path = _find_label_file(data_dir)
    report_root = data_dir / "files"
    if not report_root.is_dir():
        raise FileNotFoundError(f"{report_root} was not found; {_DATA_DIR_HINT}")

    table = read_table(label_path)
    require_columns(
        table,
        ("subject_id", "study_id", *CHEXPERT_LABELS),
        hint="Use an official MIMIC-CXR 2.0.0 CheXpert or NegBio label file.",
    )
    label_rows = _label_rows(table, options.uncertain_policy)

    reports = []
    text_sources: Counter[str] = Counter()
    skipped_missing_report = 0
    for subject, study, labels, mask in tqdm(label_rows, desc="mimic-cxr reports", unit="report", disable=None):
        path = report_root / f"p{subject[:2]}" / f"p{subject}" / f"s{study}.txt"
        if not path.is_file():
            skipped_missing_report += 1
            continue
        model_text = select_model_text(path.read_text(encoding="utf-8"))
        text_sources[model_text.source] += 1
        reports.append(Report(f"s{study}", f"p{subject}", model_text.text, labels, mask))

    if skipped_missing_report:
        logger.warning(
            "mimic-cxr: %d labelled studies have no report file under %s and were skipped",
            skipped_missing_report,
            report_root,
        )
    notes = {
        "label_file": label_path.name,
        "uncertain_policy": options.uncertain_policy,
        "rows_read": len(label_rows),
        "skipped_missing_report": skipped_missing_report,
        "text_source": dict(sorted(text_sources.items())),
    }
    corpus = build_corpus(
        "mimic-cxr",
        CHEXPERT_LABELS,
        reports,
        options=options,
        notes=notes,
        source=f"{label_path} and the report files under {report_root}",
        check_hint="Check that files/pXX/pNNNNNNNN/sNNNNNNNN.txt exist for the studies of the label file.",
    )

    split_path = next((data_dir / name for name in SPLIT_FILES if (data_dir / name).is_file()), None)
    if split_path is not None:
        subject_by_study = {study: subject for subject, study, _, _ in label_rows}
        split_by_study = _read_official_splits(split_path, subject_by_study)
        counts = Counter(split_by_study.get(report.report_id[1:], "not_in_split_file") for report in corpus.reports)
        corpus.notes["official_split_reports"] = dict(sorted(counts.items()))
    return corpus
