"""Agreement of teacher labels with gold labels: F1, Cohen's kappa and positive rates per label."""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score, f1_score

from bench.labelers import to_targets


def agreement_table(
    teacher_values: np.ndarray,
    gold_labels: np.ndarray,
    gold_mask: np.ndarray,
    label_names: Sequence[str],
    policy: str,
) -> dict:
    """Compare teacher values with gold labels, label by label and weighted by gold positives.

    Args:
        teacher_values: Labeler output of shape [reports, labels] with values in {1, 0, -1, NaN}.
        gold_labels: 0/1 gold labels of the same shape.
        gold_mask: 1 where the gold label is scored, 0 where it is masked out.
        label_names: Names of the label columns.
        policy: Uncertain policy that maps the teacher's -1.0 (see ``to_targets``). A cell counts
            only where both the gold mask and the teacher mask are 1.

    Returns:
        ``{"policy", "labels": {name: {...}}, "weighted": {...}, "labels_without_positives"}``.
        Each label entry has ``f1`` (teacher against gold, positive class), ``kappa``
        (``sklearn.metrics.cohen_kappa_score``), ``teacher_positive_rate``,
        ``gold_positive_rate``, ``support`` (gold positives) and ``scored`` (cells counted).
        ``weighted`` averages ``f1``, ``kappa`` and both rates over the labels with gold
        positives, weighted by ``support``; for F1 this equals scikit-learn's
        ``average="weighted"``. A metric that is undefined for a label (no positives on either
        side, or a single class) is NaN and is left out of the weighted mean.
    """
    teacher_values = np.asarray(teacher_values, dtype=np.float64)
    gold_labels = np.asarray(gold_labels, dtype=np.float64)
    gold_mask = np.asarray(gold_mask, dtype=np.float64)
    expected = (teacher_values.shape[0], len(label_names))
    for name, array in (("teacher_values", teacher_values), ("gold_labels", gold_labels), ("gold_mask", gold_mask)):
        if array.shape != expected:
            raise ValueError(f"{name} has shape {array.shape}, expected {expected} (reports x labels).")

    teacher_labels, teacher_mask = to_targets(teacher_values, policy)
    scored = (gold_mask > 0) & (teacher_mask > 0)

    labels = {}
    for column, name in enumerate(label_names):
        rows = scored[:, column]
        labels[name] = _label_agreement(teacher_labels[rows, column], gold_labels[rows, column])

    with_positives = [name for name in label_names if labels[name]["support"] > 0]
    weighted = {
        metric: _weighted_mean([labels[name][metric] for name in with_positives], [labels[name]["support"] for name in with_positives])
        for metric in ("f1", "kappa", "teacher_positive_rate", "gold_positive_rate")
    }
    return {
        "policy": policy,
        "labels": labels,
        "weighted": weighted,
        "labels_without_positives": [name for name in label_names if name not in with_positives],
    }


def _label_agreement(teacher: np.ndarray, gold: np.ndarray) -> dict:
    count = int(teacher.shape[0])
    if count == 0:
        nan = math.nan
        return {"f1": nan, "kappa": nan, "teacher_positive_rate": nan, "gold_positive_rate": nan, "support": 0, "scored": 0}

    with warnings.catch_warnings():
        # Undefined cases return NaN by the arguments below; the warning adds nothing.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        f1 = f1_score(gold, teacher, zero_division=np.nan)
        kappa = cohen_kappa_score(gold, teacher, replace_undefined_by=np.nan)
    return {
        "f1": float(f1),
        "kappa": float(kappa),
        "teacher_positive_rate": float(teacher.mean()),
        "gold_positive_rate": float(gold.mean()),
        "support": int(gold.sum()),
        "scored": count,
    }


def _weighted_mean(values: list[float], weights: list[int]) -> float:
    pairs = [(value, weight) for value, weight in zip(values, weights) if not math.isnan(value)]
    total = sum(weight for _, weight in pairs)
    if total == 0:
        return math.nan
    return sum(value * weight for value, weight in pairs) / total
