"""Membership-attack ROC metrics restricted to the reports that are positive for one label.

Rare findings can leak more than the pool average, because a model fits their few training
reports more tightly. Each slice keeps the reports whose label is positive and scored, and
reports the same metrics as ``attacks.metrics.roc_metrics`` on them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from attacks.metrics import roc_metrics


def per_label_slices(
    scores: np.ndarray,
    is_member: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    label_names: Sequence[str],
    min_members: int = 5,
) -> dict[str, dict[str, Any]]:
    """Compute the attack's ROC metrics on the reports positive for each label.

    A slice needs at least ``min_members`` members and ``min_members`` non-members. Otherwise
    its entry is ``{"excluded": reason}``, because an AUC from a handful of reports is mostly
    noise.

    Args:
        scores: float array [n] of attack scores, larger = member.
        is_member: bool array [n], True for members.
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1, 1 where a label is scored. Masked cells never enter a slice.
        label_names: the L label names, in column order.
        min_members: minimum count of each class in a slice, >= 1.

    Returns:
        A dict mapping each label name to the output of ``roc_metrics`` on its slice, without the
        ``"fpr"`` and ``"tpr"`` lists, or to ``{"excluded": reason}``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_member = np.asarray(is_member).astype(bool)
    labels = np.asarray(labels)
    mask = np.asarray(mask)
    label_names = list(label_names)
    if scores.ndim != 1 or is_member.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and is_member {is_member.shape} must be 1-D arrays of one length.")
    if labels.shape != mask.shape or labels.shape != (scores.size, len(label_names)):
        raise ValueError(
            f"labels {labels.shape} and mask {mask.shape} must have shape ({scores.size}, {len(label_names)}): "
            "one row per score and one column per label name."
        )
    if isinstance(min_members, bool) or not isinstance(min_members, (int, np.integer)) or min_members < 1:
        raise ValueError(f"min_members={min_members!r} is invalid. Use a positive integer.")

    slices: dict[str, dict[str, Any]] = {}
    for column, name in enumerate(label_names):
        in_slice = (labels[:, column] == 1) & (mask[:, column] == 1)
        members = int((in_slice & is_member).sum())
        non_members = int((in_slice & ~is_member).sum())
        if members < min_members or non_members < min_members:
            slices[name] = {
                "excluded": f"{members} members and {non_members} non-members are positive for this label; "
                f"each class needs at least {min_members}."
            }
            continue
        metrics = roc_metrics(scores[in_slice], is_member[in_slice])
        metrics.pop("fpr")
        metrics.pop("tpr")
        slices[name] = metrics
    return slices
