"""Patient-disjoint splits for training, validation, test and the membership audit.

Test and validation patients are drawn first. The remaining patients form the audit pool, and
a seeded random half of its patients are members (they train the target model); the rest are
non-members. Members and non-members come from one pool by one coin flip per patient, so only
membership tells them apart. Reference models train on complementary halves of the same pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from bench.config import SplitOptions
from bench.records import Corpus, Report

logger = logging.getLogger(__name__)

# When one exact text sits in two partitions, the copies in the earlier partition of this order
# are kept and the others are removed, so that the audit's two sides and the evaluation sets
# never share a text with the training set.
PARTITION_ORDER = ("members", "non_members", "validation", "test")


@dataclass(eq=False)
class Splits:
    """The four disjoint partitions of a corpus, plus counts for the results file."""

    members: Corpus
    non_members: Corpus
    validation: Corpus
    test: Corpus
    notes: dict = field(default_factory=dict)

    @property
    def audit_pool(self) -> Corpus:
        """Members followed by non-members, the reports every attack scores."""
        return self.members.subset(self.members.reports + self.non_members.reports)


def split_corpus(corpus: Corpus, options: SplitOptions) -> Splits:
    """Split ``corpus`` by patient into members, non-members, validation and test."""
    rng = np.random.default_rng(options.seed)
    patients = sorted({r.patient_id for r in corpus.reports})
    if len(patients) < 20:
        raise ValueError(
            f"dataset {corpus.name!r} has {len(patients)} patients; at least 20 are needed for patient-disjoint "
            "train, validation, test and audit splits. Use a larger dataset."
        )
    order = rng.permutation(len(patients))
    n_test = max(2, int(round(options.test_fraction * len(patients))))
    n_val = max(2, int(round(options.validation_fraction * len(patients))))
    test_patients = {patients[i] for i in order[:n_test]}
    val_patients = {patients[i] for i in order[n_test : n_test + n_val]}
    pool = [patients[i] for i in order[n_test + n_val :]]
    member_flags = rng.random(len(pool)) < options.member_fraction
    member_patients = {p for p, flag in zip(pool, member_flags) if flag}

    partitions: dict[str, list[Report]] = {name: [] for name in PARTITION_ORDER}
    for report in corpus.reports:
        if report.patient_id in test_patients:
            partitions["test"].append(report)
        elif report.patient_id in val_patients:
            partitions["validation"].append(report)
        elif report.patient_id in member_patients:
            partitions["members"].append(report)
        else:
            partitions["non_members"].append(report)

    removed = _remove_cross_partition_duplicates(partitions)
    for name in PARTITION_ORDER:
        if not partitions[name]:
            raise ValueError(
                f"the {name} split of dataset {corpus.name!r} is empty after splitting {len(corpus)} reports; "
                "use a larger dataset or change the split fractions."
            )
    notes = {
        "patients": len(patients),
        "reports": {name: len(partitions[name]) for name in PARTITION_ORDER},
        "cross_split_duplicates_removed": removed,
        "split_seed": options.seed,
    }
    logger.info(
        "split %d reports of %d patients: %s; removed %d exact duplicate texts across splits",
        len(corpus), len(patients), notes["reports"], removed,
    )
    return Splits(**{name: corpus.subset(partitions[name]) for name in PARTITION_ORDER}, notes=notes)


def _remove_cross_partition_duplicates(partitions: dict[str, list[Report]]) -> int:
    owner: dict[str, str] = {}
    for name in PARTITION_ORDER:
        for report in partitions[name]:
            owner.setdefault(report.text, name)
    removed = 0
    for name in PARTITION_ORDER:
        kept = [r for r in partitions[name] if owner[r.text] == name]
        removed += len(partitions[name]) - len(kept)
        partitions[name] = kept
    return removed


def reference_halves(pool: Corpus, num_models: int, seed: int) -> list[np.ndarray]:
    """Return, for each of ``num_models`` reference models, a bool mask [len(pool)] of its training reports.

    Models come in complementary pairs over the pool's patients: model 2j trains on a random
    half of the patients and model 2j+1 on the other half, so every report is IN for exactly
    half of the models and OUT for the other half.
    """
    if num_models % 2:
        raise ValueError(f"num_models={num_models} must be even, because reference models come in complementary pairs.")
    patients = np.array(sorted({r.patient_id for r in pool.reports}))
    patient_of = np.array([r.patient_id for r in pool.reports])
    rng = np.random.default_rng(seed)
    masks: list[np.ndarray] = []
    for _ in range(num_models // 2):
        half = set(rng.permutation(patients)[: len(patients) // 2].tolist())
        inside = np.array([p in half for p in patient_of], dtype=bool)
        masks.extend([inside, ~inside])
    return masks
