"""The ``ct-rate`` adapter: CT-RATE chest CT reports with their 18 predicted abnormality labels.

CT-RATE's terms forbid redistributing any part of it, so nothing of it is shipped. A volume
name such as ``valid_53_a_1.nii.gz`` reads split, patient, scan, reconstruction. The
reconstructions of one scan share one report, so the adapter keeps one record per scan.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np

from bench.config import DatasetOptions
from bench.datasets import DATASETS
from bench.datasets.csv_table import Table, read_table, require_columns
from bench.datasets.sections import build_corpus, compose_text, parse_binary_label
from bench.records import Corpus, Report

logger = logging.getLogger(__name__)

# The 18 abnormalities of the CT-RATE label files, in their column order.
CT_RATE_LABELS: tuple[str, ...] = (
    "Medical material",
    "Arterial wall calcification",
    "Cardiomegaly",
    "Pericardial effusion",
    "Coronary artery wall calcification",
    "Hiatal hernia",
    "Lymphadenopathy",
    "Emphysema",
    "Atelectasis",
    "Lung nodule",
    "Lung opacity",
    "Pulmonary fibrotic sequela",
    "Pleural effusion",
    "Mosaic attenuation pattern",
    "Peribronchial thickening",
    "Consolidation",
    "Bronchiectasis",
    "Interlobular septal thickening",
)

# (split, report file, label file) as CT-RATE names them.
SPLIT_FILES: tuple[tuple[str, str, str], ...] = (
    ("train", "train_reports.csv", "train_predicted_labels.csv"),
    ("validation", "validation_reports.csv", "valid_predicted_labels.csv"),
)
REPORT_COLUMNS: tuple[str, ...] = ("VolumeName", "Findings_EN", "Impressions_EN")
NOT_GIVEN = "not given."

_VOLUME_NAME = re.compile(
    r"^(?P<split>[A-Za-z]+)_(?P<patient>\d+)_(?P<scan>[A-Za-z]+)_(?P<reconstruction>\d+)(?:\.nii(?:\.gz)?)?$"
)
_DATA_DIR_HINT = (
    "pass --data-dir pointing at the CT-RATE folder with train_reports.csv and train_predicted_labels.csv, "
    "validation_reports.csv and valid_predicted_labels.csv, or both pairs."
)


class VolumeKey(NamedTuple):
    """Parts of a CT-RATE volume name such as ``valid_53_a_1.nii.gz``."""

    volume: str  # the name without extension, "valid_53_a_1"
    patient: str  # "valid_53"
    scan: str  # "valid_53_a"
    reconstruction: int  # 1


def parse_volume_name(name: str, *, path: Path, row_number: int) -> VolumeKey:
    """Split a volume name into its keys.

    Raises:
        ValueError: when the name does not have the form ``<split>_<patient>_<scan>_<reconstruction>``,
            naming the file and row but not the value, because volume names identify patients.
    """
    match = _VOLUME_NAME.match(name.strip())
    if match is None:
        raise ValueError(
            f"{path}: the VolumeName in data row {row_number} does not have the form "
            "<split>_<patient>_<scan>_<reconstruction>.nii.gz; use the file as CT-RATE ships it."
        )
    patient = f"{match['split']}_{match['patient']}"
    scan = f"{patient}_{match['scan']}"
    return VolumeKey(f"{scan}_{match['reconstruction']}", patient, scan, int(match["reconstruction"]))


def _section_text(value: Any) -> str:
    """Return a report section, with CT-RATE's placeholder ``Not given.`` read as empty."""
    text = "" if value is None else str(value).strip()
    return "" if text.casefold() in (NOT_GIVEN, NOT_GIVEN.rstrip(".")) else text


def _present_pairs(data_dir: Path) -> list[tuple[str, Path, Path]]:
    pairs = []
    for split, report_name, label_name in SPLIT_FILES:
        report_path, label_path = data_dir / report_name, data_dir / label_name
        if report_path.is_file() != label_path.is_file():
            missing = label_path if report_path.is_file() else report_path
            raise FileNotFoundError(
                f"{missing} was not found, but its {split} partner file is present; add it or remove both."
            )
        if report_path.is_file():
            pairs.append((split, report_path, label_path))
    if not pairs:
        raise FileNotFoundError(f"no CT-RATE report and label files were found in {data_dir}; {_DATA_DIR_HINT}")
    return pairs


def _labels_by_volume(table: Table) -> dict[str, np.ndarray]:
    labels_by_volume: dict[str, np.ndarray] = {}
    for row_number, row in enumerate(table.rows, start=1):
        key = parse_volume_name(row["VolumeName"], path=table.path, row_number=row_number)
        if key.volume in labels_by_volume:
            raise ValueError(
                f"{table.path}: data row {row_number} repeats a VolumeName; keep one label row per volume."
            )
        labels_by_volume[key.volume] = np.array(
            [parse_binary_label(row[name], column=name) for name in CT_RATE_LABELS], dtype=np.float32
        )
    return labels_by_volume


@DATASETS.register("ct-rate")
def load_ct_rate(data_dir: Optional[Path], options: DatasetOptions) -> Corpus:
    """Load CT-RATE reports of the train and validation splits, whichever are present.

    The text is the impression, then the findings. Of the reconstructions of one scan, the one
    with the lowest reconstruction number is kept and the others are counted in
    ``notes["dropped_duplicate_reconstructions"]``. Report ids are volume names without
    extension (``valid_53_a_1``) and patient ids the split and patient parts (``valid_53``).

    NOTE: tested on look-alike fixtures written from the documented layout, not on the real
    release.
    """
    if data_dir is None:
        raise FileNotFoundError(f"the ct-rate dataset needs its CSV files; {_DATA_DIR_HINT}")
    pairs = _present_pairs(data_dir)

    # Scan key -> (reconstruction number, report) of the kept volume, in order of first appearance.
    kept: dict[str, tuple[int, Report]] = {}
    notes: dict[str, Any] = {"splits": [split for split, _, _ in pairs], "rows_read": 0}
    dropped_duplicates = 0
    label_mismatches = 0
    skipped_without_labels = 0

    for _, report_path, label_path in pairs:
        reports_table = read_table(report_path)
        labels_table = read_table(label_path)
        require_columns(reports_table, REPORT_COLUMNS, hint="Use the CT-RATE report file as it ships.")
        require_columns(
            labels_table, ("VolumeName", *CT_RATE_LABELS), hint="Use the CT-RATE predicted label file as it ships."
        )
        labels_by_volume = _labels_by_volume(labels_table)
        notes["rows_read"] += len(reports_table.rows)

        for row_number, row in enumerate(reports_table.rows, start=1):
            key = parse_volume_name(row["VolumeName"], path=report_path, row_number=row_number)
            labels = labels_by_volume.get(key.volume)
            if labels is None:
                skipped_without_labels += 1
                continue
            text = compose_text(_section_text(row["Impressions_EN"]), _section_text(row["Findings_EN"]))
            report = Report(key.volume, key.patient, text, labels, np.ones_like(labels))

            previous = kept.get(key.scan)
            if previous is None:
                kept[key.scan] = (key.reconstruction, report)
                continue
            dropped_duplicates += 1
            label_mismatches += int(not np.array_equal(previous[1].labels, labels))
            if key.reconstruction < previous[0]:
                kept[key.scan] = (key.reconstruction, report)

    if label_mismatches:
        # NOTE: the kept reconstruction's labels win. Reconstructions share one report and the
        # labels were predicted from report text, so they are expected to agree.
        logger.warning(
            "ct-rate: %d duplicate reconstructions have labels that differ from the kept one", label_mismatches
        )
    notes.update(
        {
            "dropped_duplicate_reconstructions": dropped_duplicates,
            "duplicate_label_mismatches": label_mismatches,
            "skipped_without_labels": skipped_without_labels,
            "label_source": "CT-RATE predicted labels (the output of a text classifier, not manual annotation)",
        }
    )
    return build_corpus(
        "ct-rate",
        CT_RATE_LABELS,
        [report for _, report in kept.values()],
        options=options,
        notes=notes,
        source=", ".join(str(path) for _, report_path, label_path in pairs for path in (report_path, label_path)),
        check_hint="Check that Findings_EN or Impressions_EN hold text other than 'Not given.'.",
    )
