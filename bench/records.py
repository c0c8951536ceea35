"""The record every dataset adapter yields, and the corpus that groups them.

A ``Report`` carries report text and identifiers, so it must never be logged or written to
results. Code that logs uses counts, label names and the salted hashes of ``hash_ids``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True, eq=False)
class Report:
    """One radiology report with its multi-label targets.

    Attributes:
        report_id: Identifier unique within the corpus (a study id or a row key).
        patient_id: Identifier of the patient; splits never share a patient.
        text: The report text after the adapter's section policy, impression first.
        labels: float32 array of shape [num_labels] with 1.0 for a positive label and 0.0 otherwise.
        mask: float32 array of shape [num_labels]; 1.0 where the label is scored in the loss and
            the metrics, 0.0 where the source marks it uncertain and the policy masks it out.
        template: Optional group tag (the synthetic generator's template family); never report text.
    """

    report_id: str
    patient_id: str
    text: str
    labels: np.ndarray
    mask: np.ndarray
    template: str = ""

    def __post_init__(self) -> None:
        if self.labels.shape != self.mask.shape or self.labels.ndim != 1:
            raise ValueError(
                f"labels and mask must be 1-D arrays of the same shape, got {self.labels.shape} "
                f"and {self.mask.shape}; build both from the dataset's label set."
            )


@dataclass(eq=False)
class Corpus:
    """All reports of one dataset over one named label set.

    Attributes:
        name: Registered dataset name, for example ``"openi"``.
        label_names: Label set, in the order of every label vector.
        reports: The reports; ids are unique.
        notes: Facts about loading that belong in results (counts, the policies applied). Never text.
    """

    name: str
    label_names: tuple[str, ...]
    reports: list[Report]
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for report in self.reports:
            if report.labels.shape[0] != len(self.label_names):
                raise ValueError(
                    f"dataset {self.name!r}: a label vector has {report.labels.shape[0]} entries but "
                    f"the label set has {len(self.label_names)}; the adapter must use one label set."
                )
            if report.report_id in seen:
                raise ValueError(
                    f"dataset {self.name!r}: report ids are not unique; the adapter must give each "
                    "report its own id."
                )
            seen.add(report.report_id)

    def __len__(self) -> int:
        return len(self.reports)

    def subset(self, reports: Iterable[Report]) -> "Corpus":
        return Corpus(self.name, self.label_names, list(reports), dict(self.notes))

    def label_matrix(self) -> np.ndarray:
        """Return the float32 label matrix of shape [num_reports, num_labels]."""
        if not self.reports:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        return np.stack([r.labels for r in self.reports]).astype(np.float32)

    def mask_matrix(self) -> np.ndarray:
        """Return the float32 mask matrix of shape [num_reports, num_labels]."""
        if not self.reports:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        return np.stack([r.mask for r in self.reports]).astype(np.float32)

    def texts(self) -> list[str]:
        return [r.text for r in self.reports]

    def fingerprint(self) -> str:
        """Return a SHA-256 digest of ids, texts, labels and masks: equal digests mean equal data."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.label_names).encode())
        for report in self.reports:
            digest.update(report.report_id.encode())
            digest.update(b"\x1e")
            digest.update(report.patient_id.encode())
            digest.update(b"\x1e")
            digest.update(report.text.encode())
            digest.update(report.labels.astype(np.float32).tobytes())
            digest.update(report.mask.astype(np.float32).tobytes())
        return digest.hexdigest()


def hash_ids(ids: Sequence[str]) -> str:
    """Return one SHA-256 digest of a set of ids, independent of their order.

    Results store this digest of the member ids, so two runs can be checked for the same
    training set without writing any id.
    """
    digest = hashlib.sha256()
    for identifier in sorted(ids):
        digest.update(identifier.encode())
        digest.update(b"\n")
    return digest.hexdigest()
