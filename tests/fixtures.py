"""Writers of small look-alike dataset fixtures in the official file layouts.

All report text here is invented for the tests and copies nothing from MIMIC-CXR, CT-RATE or
Open-i. Every report carries ``TEXT_MARKER``, so a test can check that no report text leaks
into notes, logs, error messages or results.
"""

from __future__ import annotations

import csv
import gzip
import json
import textwrap
from pathlib import Path
from typing import Sequence

TEXT_MARKER = "ZZMARKER"

# ---------------------------------------------------------------------------------------------
# Shared file helpers
# ---------------------------------------------------------------------------------------------


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """Write a CSV file, gzip-compressed when the name ends in ``.gz``, and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Return the header and the data rows of a CSV file written by ``write_csv``."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def rewrite_cell(path: Path, column: str, row_index: int, value: str) -> None:
    """Set one cell of a CSV file (``row_index`` counts data rows from 0)."""
    header, rows = read_csv(path)
    rows[row_index][header.index(column)] = value
    write_csv(path, header, rows)


def drop_column(path: Path, column: str) -> None:
    """Remove one column from a CSV file."""
    header, rows = read_csv(path)
    index = header.index(column)
    write_csv(path, header[:index] + header[index + 1 :], [row[:index] + row[index + 1 :] for row in rows])


# ---------------------------------------------------------------------------------------------
# MIMIC-CXR
# ---------------------------------------------------------------------------------------------

MIMIC_LABEL_COLUMNS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)

# Report ids of the MIMIC fixture, by the case each one covers.
MIMIC_FULL_REPORT = "s50000101"  # impression and findings
MIMIC_NORMAL_REPORT = "s50000102"  # impression only, No Finding 1.0
MIMIC_NO_IMPRESSION = "s50000201"  # findings only
MIMIC_NO_SECTIONS = "s50000202"  # neither section: the last paragraph is used
MIMIC_LONG_REPORT = "s50000301"  # more than 300 words of findings
MIMIC_WITHOUT_FILE = "s50000302"  # labelled, but no report file
MIMIC_EMPTY_REPORT = "s50000401"  # a report file of whitespace only

MIMIC_FULL_IMPRESSION = f"Small right pleural effusion {TEXT_MARKER}. Basal opacity, possibly atelectasis."
MIMIC_LAST_PARAGRAPH = (
    f"Single portable view of the chest shows a streaky density at the left base {TEXT_MARKER} "
    "with patchy airspace change, concerning for an early infectious process."
)
MIMIC_LONG_IMPRESSION = f"Right lower lobe consolidation {TEXT_MARKER}. Feeding tube in good position."

_LONG_FINDINGS_SENTENCES = (
    "The feeding tube passes below the diaphragm and its tip projects over the gastric body.",
    f"Dense airspace consolidation fills much of the right lower lobe {TEXT_MARKER}.",
    "Air bronchograms are visible within the consolidated segment.",
    "The left lung remains aerated without a focal abnormality.",
    "The cardiac and mediastinal outlines are partly hidden by the adjacent consolidation.",
    "There is no pleural fluid layering on the right or left side.",
    "Hilar structures are not enlarged, and the pulmonary vessels are of normal calibre.",
    "Degenerative spurring is seen along the midthoracic vertebral bodies.",
    "The upper abdomen shows a nonspecific bowel gas pattern under the diaphragm.",
    "Compared with the study from ___, the right basal consolidation has grown in extent.",
)


def _mimic_report(sections: Sequence[tuple[str, str]], trailing_paragraph: str = "") -> str:
    """Lay out a look-alike MIMIC-CXR report: a centred title, one-space indent, 79-column wrap."""
    lines = [" " * 33 + "FINAL REPORT"]
    for header, body in sections:
        if header in ("FINDINGS", "IMPRESSION"):
            # These headers stand on their own line, and the text follows after a blank line.
            lines.append(f" {header}:")
            lines.append(" ")
            lines.extend(textwrap.wrap(body, width=79, initial_indent=" ", subsequent_indent=" "))
        else:
            lines.extend(textwrap.wrap(f"{header}:  {body}", width=79, initial_indent=" ", subsequent_indent=" "))
        lines.append(" ")
    if trailing_paragraph:
        lines.extend(textwrap.wrap(trailing_paragraph, width=79, initial_indent=" ", subsequent_indent=" "))
    return "\n".join(lines) + "\n"


def _mimic_reports() -> dict[tuple[str, str], str]:
    """Return report text by (subject id, study id)."""
    header_sections = [
        ("EXAMINATION", "CHEST (PA AND LAT)"),
        ("INDICATION", f"___ year old with cough and low grade fever {TEXT_MARKER}."),
        ("TECHNIQUE", "Chest PA and lateral"),
        ("COMPARISON", "___"),
    ]
    long_findings = " ".join(_LONG_FINDINGS_SENTENCES * 4)
    return {
        ("10000032", "50000101"): _mimic_report(
            [
                *header_sections,
                (
                    "FINDINGS",
                    f"A small right pleural effusion is new {TEXT_MARKER}. Opacity at the right base may "
                    "be atelectasis. The left lung is clear and there is no pneumothorax.",
                ),
                ("IMPRESSION", MIMIC_FULL_IMPRESSION),
            ]
        ),
        ("10000032", "50000102"): _mimic_report(
            [*header_sections, ("IMPRESSION", f"No acute cardiopulmonary process {TEXT_MARKER}.")]
        ),
        ("10000764", "50000201"): _mimic_report(
            [
                *header_sections,
                (
                    "FINDINGS",
                    f"The heart is enlarged {TEXT_MARKER}. Mild vascular fullness without definite "
                    "interstitial oedema. No focal consolidation.",
                ),
            ]
        ),
        ("10000764", "50000202"): _mimic_report(
            [("EXAMINATION", "CHEST (PORTABLE AP)"), ("INDICATION", f"___ with fever {TEXT_MARKER}.")],
            trailing_paragraph=MIMIC_LAST_PARAGRAPH,
        ),
        ("11000001", "50000301"): _mimic_report(
            [*header_sections, ("FINDINGS", long_findings), ("IMPRESSION", MIMIC_LONG_IMPRESSION)]
        ),
        ("12000002", "50000401"): " \n \n",
    }


# CheXpert cells by study id. Columns not named here are blank (not mentioned).
MIMIC_LABELS: dict[str, dict[str, str]] = {
    "50000101": {"Pleural Effusion": "1.0", "Atelectasis": "-1.0", "Pneumothorax": "0.0"},
    "50000102": {"No Finding": "1.0"},
    "50000201": {"Cardiomegaly": "1.0", "Edema": "-1.0", "Consolidation": "0.0"},
    "50000202": {"Lung Opacity": "1.0", "Pneumonia": "-1.0"},
    "50000301": {"Consolidation": "1.0", "Support Devices": "1.0", "Pleural Effusion": "0.0"},
    "50000302": {"Fracture": "1.0"},
    "50000401": {"No Finding": "1.0"},
}
MIMIC_SUBJECTS: dict[str, str] = {
    "50000101": "10000032",
    "50000102": "10000032",
    "50000201": "10000764",
    "50000202": "10000764",
    "50000301": "11000001",
    "50000302": "11000001",
    "50000401": "12000002",
}
# Official split by study id. The split file has one row per image, and some studies have two.
MIMIC_SPLITS: dict[str, str] = {
    "50000101": "train",
    "50000102": "train",
    "50000201": "validate",
    "50000202": "validate",
    "50000301": "test",
    "50000302": "test",
    "50000401": "train",
}


def write_mimic_fixture(
    root: Path, *, label_file: str = "mimic-cxr-2.0.0-chexpert.csv.gz", split_file: bool = True
) -> Path:
    """Write a look-alike MIMIC-CXR folder under ``root`` and return ``root``.

    The folder has the ``files/pXX/pNNNNNNNN/sNNNNNNNN.txt`` report tree, the label file named
    ``label_file`` (gzip-compressed when it ends in ``.gz``) and, with ``split_file``, the
    official split file.
    """
    for (subject, study), text in _mimic_reports().items():
        path = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    label_rows = [
        [MIMIC_SUBJECTS[study], study, *(cells.get(column, "") for column in MIMIC_LABEL_COLUMNS)]
        for study, cells in MIMIC_LABELS.items()
    ]
    write_csv(root / label_file, ["subject_id", "study_id", *MIMIC_LABEL_COLUMNS], label_rows)

    if split_file:
        split_rows = []
        for number, (study, split) in enumerate(MIMIC_SPLITS.items()):
            images = 2 if number % 2 == 0 else 1
            for image in range(images):
                dicom_id = f"{number:08x}-{image:04x}-fixture"
                split_rows.append([dicom_id, study, MIMIC_SUBJECTS[study], split])
        write_csv(root / "mimic-cxr-2.0.0-split.csv.gz", ["dicom_id", "study_id", "subject_id", "split"], split_rows)
    return root


# ---------------------------------------------------------------------------------------------
# CT-RATE
# ---------------------------------------------------------------------------------------------

CT_RATE_LABEL_COLUMNS: tuple[str, ...] = (
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
CT_RATE_REPORT_COLUMNS = ("VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN")
NOT_GIVEN = "Not given."

_CT_TECHNIQUE = "Non-contrast axial images of the thorax with 1 mm reconstructions."
_CT_PATIENT_1_SCAN_A = (
    f"Cough for two weeks {TEXT_MARKER}.",
    _CT_TECHNIQUE,
    f"Scattered calcified plaques in the thoracic aorta {TEXT_MARKER}. A 5 mm nodule in the right upper lobe.",
    f"Aortic calcification and a small right upper lobe nodule {TEXT_MARKER}.",
)
CT_RATE_REPORTS: dict[str, tuple[str, str, str, str]] = {
    # Reconstruction 2 comes first, so the adapter must keep the lowest reconstruction, not the first row.
    "train_1_a_2.nii.gz": _CT_PATIENT_1_SCAN_A,
    "train_1_a_1.nii.gz": _CT_PATIENT_1_SCAN_A,
    "train_1_b_1.nii.gz": (
        f"Follow-up of nodule {TEXT_MARKER}.",
        _CT_TECHNIQUE,
        f"The right upper lobe nodule is unchanged at 5 mm {TEXT_MARKER}.",
        f"Stable pulmonary nodule {TEXT_MARKER}.",
    ),
    "train_2_a_1.nii.gz": (
        NOT_GIVEN,
        _CT_TECHNIQUE,
        f"Bilateral pleural fluid with adjacent compressive collapse {TEXT_MARKER}.",
        NOT_GIVEN,
    ),
    "train_3_a_1.nii.gz": (f"Staging {TEXT_MARKER}.", _CT_TECHNIQUE, NOT_GIVEN, NOT_GIVEN),
}
CT_RATE_VALIDATION_REPORTS: dict[str, tuple[str, str, str, str]] = {
    "valid_53_a_1.nii.gz": (
        f"Dyspnoea {TEXT_MARKER}.",
        _CT_TECHNIQUE,
        f"Ground-glass change in both lower lobes {TEXT_MARKER}. Heart size enlarged.",
        f"Bilateral ground-glass opacities and an enlarged heart {TEXT_MARKER}.",
    ),
    "valid_53_a_2.nii.gz": (
        f"Dyspnoea {TEXT_MARKER}.",
        _CT_TECHNIQUE,
        f"Ground-glass change in both lower lobes {TEXT_MARKER}. Heart size enlarged.",
        f"Bilateral ground-glass opacities and an enlarged heart {TEXT_MARKER}.",
    ),
    "valid_7_a_1.nii.gz": (
        NOT_GIVEN,
        _CT_TECHNIQUE,
        NOT_GIVEN,
        f"Hiatal hernia with emphysematous change at the apices {TEXT_MARKER}.",
    ),
}
# Positive labels by volume. All other cells are 0.
CT_RATE_POSITIVES: dict[str, tuple[str, ...]] = {
    "train_1_a_2.nii.gz": ("Arterial wall calcification", "Lung nodule"),
    "train_1_a_1.nii.gz": ("Arterial wall calcification", "Lung nodule"),
    "train_1_b_1.nii.gz": ("Lung nodule",),
    "train_2_a_1.nii.gz": ("Pleural effusion", "Atelectasis"),
    "train_3_a_1.nii.gz": (),
    "valid_53_a_1.nii.gz": ("Lung opacity", "Cardiomegaly"),
    "valid_53_a_2.nii.gz": ("Lung opacity", "Cardiomegaly"),
    "valid_7_a_1.nii.gz": ("Hiatal hernia", "Emphysema"),
}


def write_ct_rate_fixture(root: Path, *, splits: Sequence[str] = ("train", "validation")) -> Path:
    """Write look-alike CT-RATE report and label files for ``splits`` under ``root`` and return ``root``."""
    files = {
        "train": ("train_reports.csv", "train_predicted_labels.csv", CT_RATE_REPORTS),
        "validation": ("validation_reports.csv", "valid_predicted_labels.csv", CT_RATE_VALIDATION_REPORTS),
    }
    for split in splits:
        report_name, label_name, reports = files[split]
        write_csv(root / report_name, CT_RATE_REPORT_COLUMNS, [[volume, *texts] for volume, texts in reports.items()])
        label_rows = [
            [volume, *(int(column in CT_RATE_POSITIVES[volume]) for column in CT_RATE_LABEL_COLUMNS)]
            for volume in reports
        ]
        write_csv(root / label_name, ["VolumeName", *CT_RATE_LABEL_COLUMNS], label_rows)
    return root


# ---------------------------------------------------------------------------------------------
# Open-i
# ---------------------------------------------------------------------------------------------

OPENI_LABEL_COLUMNS: tuple[str, ...] = (
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
OPENI_REPORT_COLUMNS = ("uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression")

# uid -> (findings, impression, positive columns), where "normal" counts as a column.
OPENI_ROWS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "1": (
        f"Heart and lungs look normal {TEXT_MARKER}. No effusion.",
        f"No acute disease {TEXT_MARKER}.",
        ("normal",),
    ),
    "2": (
        f"The heart is large {TEXT_MARKER}. Lungs clear. XXXX XXXX intact.",
        f"Enlarged heart {TEXT_MARKER}.",
        ("Cardiomegaly",),
    ),
    "3": ("", f"Left effusion with basal collapse {TEXT_MARKER}.", ("Effusion", "Atelectasis")),
    "4": ("", "", ("normal",)),
    "5": (f"Round 1 cm density in the right midlung {TEXT_MARKER}.", f"Nodule {TEXT_MARKER}.", ("Nodule",)),
    "6": (f"Patchy right basal airspace disease {TEXT_MARKER}.", "", ("Pneumonia",)),
}


def write_openi_fixture(root: Path) -> Path:
    """Write look-alike ``indiana_reports.csv`` and ``openi_gld_std14.csv`` under ``root`` and return ``root``."""
    report_rows = []
    for uid, (findings, impression, _) in OPENI_ROWS.items():
        indication = f"Cough {TEXT_MARKER}."
        image = "Xray Chest PA and Lateral"
        report_rows.append([uid, "mesh terms", "problems", image, indication, "None.", findings, impression])
    write_csv(root / "indiana_reports.csv", OPENI_REPORT_COLUMNS, report_rows)

    label_columns = (*OPENI_LABEL_COLUMNS, "normal")
    label_rows = [
        [f"CXR{uid}", *(int(column in positives) for column in label_columns)]
        for uid, (_, _, positives) in OPENI_ROWS.items()
    ]
    write_csv(root / "openi_gld_std14.csv", ["filename", *label_columns], label_rows)
    return root


# ---------------------------------------------------------------------------------------------
# User CSV / JSONL table
# ---------------------------------------------------------------------------------------------

CSV_LABEL_COLUMNS: tuple[str, ...] = ("effusion", "edema", "pneumonia")
CSV_TABLE_COLUMNS: tuple[str, ...] = ("report_key", "patient_key", "report_text", *CSV_LABEL_COLUMNS)
_CSV_SENTENCES = (
    "Small effusion on the left",
    "Interstitial oedema pattern",
    "Lobar airspace disease suggesting infection",
    "Clear lungs",
)


def csv_fixture_rows() -> list[list[object]]:
    """Return the 12 rows of the CSV fixture. The last row has blank text, so the adapter drops it."""
    rows: list[list[object]] = []
    for number in range(1, 13):
        sentence = _CSV_SENTENCES[number % len(_CSV_SENTENCES)]
        text = f"{sentence} {TEXT_MARKER} {number}.\n Second line." if number < 12 else "   "
        labels = [int(number % len(_CSV_SENTENCES) == column) for column in range(3)]
        # Mix the accepted spellings of 0 and 1.
        cells: list[object] = [f"{value}.0" if number % 3 == 0 else value for value in labels]
        rows.append([f"r{number:03d}", f"pt{(number + 1) // 2:03d}", text, *cells])
    return rows


def write_csv_fixture(path: Path) -> Path:
    """Write the CSV fixture to ``path``, as JSON Lines when it ends in ``.jsonl``, and return ``path``."""
    rows = csv_fixture_rows()
    if path.suffix == ".jsonl":
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(dict(zip(CSV_TABLE_COLUMNS, row))) + "\n")
        return path
    return write_csv(path, CSV_TABLE_COLUMNS, rows)
