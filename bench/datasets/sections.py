"""Helpers shared by the dataset adapters: report sections, model text, label values and corpus assembly.

Every adapter builds ``Report.text`` with ``compose_text`` or ``select_model_text``, so the
impression comes first and survives truncation from the tail. Label cells go through
``chexpert_to_label`` (1.0 / 0.0 / -1.0 / blank) or ``parse_binary_label`` (0 / 1), and the
adapter finishes with ``build_corpus``, which drops empty reports and applies ``max_reports``.
None of these helpers puts report text or ids into an exception message or into the notes.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, NamedTuple, Sequence

import numpy as np

from bench.config import UNCERTAIN_POLICIES, DatasetOptions
from bench.records import Corpus, Report

logger = logging.getLogger(__name__)

# The 14 CheXpert observations, in the column order of the CheXpert labeler's output.
CHEXPERT_LABELS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Lesion",
    "Lung Opacity",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

# Headers that start a section. Other capital words before a colon (organ subheadings such as
# "LUNGS:") stay in the text of the section they sit in.
SECTION_NAMES: tuple[str, ...] = (
    "EXAMINATION",
    "EXAM",
    "INDICATION",
    "INDICATIONS",
    "CLINICAL HISTORY",
    "CLINICAL INFORMATION",
    "HISTORY",
    "REASON FOR EXAMINATION",
    "REASON FOR EXAM",
    "TECHNIQUE",
    "COMPARISON",
    "COMPARISONS",
    "FINDINGS",
    "FINDING",
    "IMPRESSION",
    "IMPRESSIONS",
    "CONCLUSION",
    "CONCLUSIONS",
    "RECOMMENDATION(S)",
    "RECOMMENDATIONS",
    "RECOMMENDATION",
    "NOTIFICATION",
    "WET READ",
    "ADDENDUM",
)

# Header spellings stored under one canonical section name.
SECTION_ALIASES: dict[str, str] = {
    "FINDING": "FINDINGS",
    "IMPRESSIONS": "IMPRESSION",
    "CONCLUSION": "IMPRESSION",
    "CONCLUSIONS": "IMPRESSION",
    "INDICATIONS": "INDICATION",
    "COMPARISONS": "COMPARISON",
}

# Longer names come first in the alternation, so "CLINICAL HISTORY:" is not read as "HISTORY:".
_HEADER_PATTERN = re.compile(
    r"(?<![A-Za-z0-9])(?P<name>"
    + "|".join(re.escape(name) for name in sorted(SECTION_NAMES, key=len, reverse=True))
    + r")[ \t]*:"
)
_WHITESPACE = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")

CHEXPERT_ALLOWED_VALUES = "1.0 (positive), 0.0 (negative), -1.0 (uncertain) or blank (not mentioned)"
BINARY_ALLOWED_VALUES = "0 or 1 (0.0 and 1.0 are accepted too)"


class ModelText(NamedTuple):
    """Model input text of one report and the part of the report it came from.

    ``source`` is one of ``"impression_and_findings"``, ``"impression"``, ``"findings"``,
    ``"last_paragraph"`` or ``"empty"``.
    """

    text: str
    source: str


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace, line breaks included, into one space and strip the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def split_sections(report: str) -> dict[str, str]:
    """Split a report into its sections, keyed by canonical header name.

    A header is one of ``SECTION_NAMES`` in capitals followed by a colon, at the start of a line
    or after whitespace. Text before the first header is stored under ``""``. A header that
    occurs twice gets the text of both sections, joined by a space. Section texts are
    whitespace-normalised and may be empty.
    """
    sections: dict[str, str] = {}
    matches = list(_HEADER_PATTERN.finditer(report))

    starts = [0] + [match.end() for match in matches]
    ends = [match.start() for match in matches] + [len(report)]
    names = [""] + [SECTION_ALIASES.get(match.group("name"), match.group("name")) for match in matches]

    for name, start, end in zip(names, starts, ends):
        body = normalize_whitespace(report[start:end])
        if name in sections:
            sections[name] = f"{sections[name]} {body}".strip()
        else:
            sections[name] = body
    return sections


def last_paragraph(report: str) -> str:
    """Return the last non-blank paragraph of a report, whitespace-normalised ("" if none).

    Paragraphs are separated by a line that is empty or holds only spaces and tabs.
    """
    paragraphs = [normalize_whitespace(part) for part in _PARAGRAPH_BREAK.split(report)]
    non_empty = [part for part in paragraphs if part]
    return non_empty[-1] if non_empty else ""


def compose_text(impression: str, findings: str) -> str:
    """Join the sections into model text: ``"IMPRESSION: <impression> FINDINGS: <findings>"``.

    An empty section is left out together with its header word, so two empty sections give "".
    """
    parts = []
    impression = normalize_whitespace(impression)
    findings = normalize_whitespace(findings)
    if impression:
        parts.append(f"IMPRESSION: {impression}")
    if findings:
        parts.append(f"FINDINGS: {findings}")
    return " ".join(parts)


def select_model_text(report: str) -> ModelText:
    """Choose the model text of a free-text report by the MIMIC-CXR labeling convention.

    The official MIMIC-CXR labels were computed from the impression, else the findings, else the
    last paragraph. The text keeps the impression and, when present, the findings after it.
    """
    sections = split_sections(report)
    impression = sections.get("IMPRESSION", "")
    findings = sections.get("FINDINGS", "")

    if impression and findings:
        return ModelText(compose_text(impression, findings), "impression_and_findings")
    if impression:
        return ModelText(compose_text(impression, ""), "impression")
    if findings:
        return ModelText(compose_text("", findings), "findings")
    paragraph = last_paragraph(report)
    return ModelText(paragraph, "last_paragraph" if paragraph else "empty")


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _as_number(value: Any) -> float | None:
    """Return the cell as a float, or None when it is not a plain number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def chexpert_to_label(value: Any, *, column: str, policy: str) -> tuple[float, float]:
    """Map one CheXpert-convention cell to ``(label, mask)`` under an uncertain policy.

    1.0 gives (1, 1) and 0.0 gives (0, 1). A blank cell (empty string, None or NaN) means the
    report does not mention the observation and counts as negative, (0, 1). The uncertain
    value -1.0 gives (1, 1) under ``"ones"``, (0, 1) under ``"zeros"`` and (0, 0) under ``"mask"``.

    Raises:
        ValueError: for any other value, naming the column and the value, or for an unknown policy.
    """
    if policy not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain policy {policy!r} is invalid; use one of {UNCERTAIN_POLICIES}.")
    if _is_blank(value):
        return 0.0, 1.0

    number = _as_number(value)
    if number == 1.0:
        return 1.0, 1.0
    if number == 0.0:
        return 0.0, 1.0
    if number == -1.0:
        if policy == "ones":
            return 1.0, 1.0
        if policy == "zeros":
            return 0.0, 1.0
        return 0.0, 0.0
    raise ValueError(
        f"label column {column!r} contains the value {value!r}, which is not a CheXpert label value. "
        f"Allowed values: {CHEXPERT_ALLOWED_VALUES}."
    )


def parse_binary_label(value: Any, *, column: str) -> float:
    """Return 1.0 or 0.0 for a 0/1 label cell.

    Raises:
        ValueError: for a blank cell or any value other than 0, 1, 0.0 and 1.0, naming the
            column and the value.
    """
    number = None if _is_blank(value) else _as_number(value)
    if number in (0.0, 1.0):
        return float(number)
    raise ValueError(
        f"label column {column!r} contains the value {value!r}; allowed values are {BINARY_ALLOWED_VALUES}. "
        "Check that the column is a 0/1 label column."
    )


def sample_indices(count: int, max_reports: int | None, seed: int) -> list[int]:
    """Return the sorted indices of a seeded sample of at most ``max_reports`` out of ``count``.

    Sorting keeps the source order, so equal seeds select and order the same reports.
    """
    if max_reports is None or count <= max_reports:
        return list(range(count))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(count, size=max_reports, replace=False)
    return sorted(int(index) for index in chosen)


def build_corpus(
    name: str,
    label_names: Sequence[str],
    reports: list[Report],
    *,
    options: DatasetOptions,
    notes: dict,
    source: str,
    check_hint: str,
) -> Corpus:
    """Drop reports with empty text, apply ``options.max_reports`` and return the corpus.

    ``notes`` gains ``dropped_empty`` (reports without text) and, when the sample removed
    reports, ``reports_before_sampling`` and ``max_reports``. ``source`` names the files that
    were read and ``check_hint`` what the user should check, for the error raised when no
    report is left.

    Raises:
        ValueError: when no report with text is left.
    """
    kept = [report for report in reports if report.text.strip()]
    notes["dropped_empty"] = len(reports) - len(kept)
    if not kept:
        raise ValueError(
            f"dataset {name!r}: no report with text is left after reading {source}. {check_hint}"
        )

    indices = sample_indices(len(kept), options.max_reports, options.synthetic_seed)
    if len(indices) < len(kept):
        notes["reports_before_sampling"] = len(kept)
        notes["max_reports"] = options.max_reports
        kept = [kept[index] for index in indices]

    corpus = Corpus(name, tuple(label_names), kept, notes)
    patients = len({report.patient_id for report in kept})
    logger.info(
        "dataset %s: %d reports of %d patients over %d labels (%d dropped as empty)",
        name,
        len(corpus),
        patients,
        len(corpus.label_names),
        notes["dropped_empty"],
    )
    return corpus
