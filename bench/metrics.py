"""Utility metrics of multi-label report classification, shared by every method.

All arrays have one row per report and one column per label: n reports by L labels. ``mask`` is
1 where a label is scored and 0 where it is masked out (for example an uncertain finding), and a
masked cell never enters any count. Undefined values warn with scikit-learn's
``UndefinedMetricWarning`` and become nan, never 0. ``to_json_compatible`` writes nan as None
because JSON has no nan.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Sequence

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import f1_score, precision_recall_fscore_support, roc_auc_score

# Bootstrap resamples drawn per matrix product. Fixed, so that a seed gives the same interval on any machine.
_BOOTSTRAP_CHUNK = 100


def multilabel_bce(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Compute each report's mean binary cross-entropy over its scored labels.

    Args:
        logits: float array [n, L] of raw model outputs, before the sigmoid. Must be finite.
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1. Only cells with mask == 1 enter the mean.

    Returns:
        float64 array [n] of losses in nats. A report without any scored label gets nan.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must be a 2-D array [n, L], but their shape is {logits.shape}.")
    non_finite = int((~np.isfinite(logits)).sum())
    if non_finite:
        raise ValueError(f"logits contain {non_finite} non-finite values. Expected finite logits.")
    labels = _as_binary("labels", labels, logits.shape)
    mask = _as_binary("mask", mask, logits.shape)

    # max(x, 0) - x*y + log(1 + exp(-|x|)) equals -[y log σ(x) + (1-y) log(1-σ(x))]. Because exp(-|x|) <= 1,
    # no term overflows for finite x.
    cell_loss = np.maximum(logits, 0.0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    scored_count = mask.sum(axis=1)
    loss_sum = (cell_loss * mask).sum(axis=1)

    losses = np.full(logits.shape[0], np.nan)
    has_scored = scored_count > 0
    losses[has_scored] = loss_sum[has_scored] / scored_count[has_scored]
    return losses


def choose_thresholds(
    probabilities: np.ndarray, labels: np.ndarray, mask: np.ndarray, grid: int = 41
) -> np.ndarray:
    """Choose each label's decision threshold to maximise F1 on validation data.

    The candidates are ``grid`` evenly spaced values strictly inside (0, 1), where an odd
    ``grid`` includes 0.5, plus the midpoints between consecutive distinct validation
    probabilities of the label. The midpoints matter for a model whose probabilities all sit in
    a narrow band, as a DP model's often do early in training: a fixed grid alone would then
    offer no threshold that splits them. A cell is predicted positive when its probability is >= the threshold, and
    only cells with mask == 1 count. Among candidates of equal F1 the one closest to 0.5 wins,
    and the lower one when two are equally close. A label without a scored positive keeps 0.5
    because its F1 is undefined, and a warning names its column.

    Args:
        probabilities: float array [n, L] of predicted probabilities in [0, 1].
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1.
        grid: number of evenly spaced candidate thresholds, at least 1.

    Returns:
        float64 array [L] of thresholds.
    """
    probabilities = _as_probabilities(probabilities)
    labels = _as_binary("labels", labels, probabilities.shape)
    mask = _as_binary("mask", mask, probabilities.shape)
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 1:
        raise ValueError(f"grid={grid!r} is invalid. Use a positive integer number of candidate thresholds.")

    fixed = np.linspace(0.0, 1.0, grid + 2)[1:-1]
    positive = (labels == 1) & (mask == 1)
    negative = (labels == 0) & (mask == 1)
    support = positive.sum(axis=0)
    thresholds = np.full(probabilities.shape[1], 0.5)
    for column in range(probabilities.shape[1]):
        scores = probabilities[:, column]
        seen = np.unique(scores[mask[:, column] == 1])
        midpoints = (seen[:-1] + seen[1:]) / 2.0
        candidates = np.unique(np.concatenate([fixed, midpoints]))
        # Sorted by distance to 0.5 (rounded so that mirrored candidates tie exactly), lower first on ties.
        # argmax then returns the first best candidate, which is the tie-break rule.
        candidates = candidates[np.lexsort((candidates, np.round(np.abs(candidates - 0.5), 12)))]
        predicted = scores[None, :] >= candidates[:, None]
        true_positives = (predicted & positive[:, column]).sum(axis=1)
        false_positives = (predicted & negative[:, column]).sum(axis=1)
        denominator = support[column] + true_positives + false_positives
        f1 = np.divide(2.0 * true_positives, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
        thresholds[column] = candidates[int(np.argmax(f1))]

    no_positive = support == 0
    if no_positive.any():
        columns = np.flatnonzero(no_positive).tolist()
        warnings.warn(
            f"Label columns {columns} have no scored positive in the validation data, so their threshold stays 0.5.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        thresholds[no_positive] = 0.5
    return thresholds


def evaluate(
    probabilities: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    thresholds: np.ndarray,
    label_names: Sequence[str],
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score thresholded predictions against the targets of one split.

    A label without a scored positive in this split is listed under ``"excluded_labels"`` and
    left out of the weighted, macro and micro averages. Its precision, recall and F1 are None
    rather than 0 or 1. The weighted F1 is the headline: per-label F1 weighted by support, as
    scikit-learn's ``average="weighted"``. Its 95% interval is a percentile bootstrap over
    reports, seeded by ``seed``.

    Args:
        probabilities: float array [n, L] of predicted probabilities in [0, 1].
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1. Cells with mask == 0 enter no count and no AUROC.
        thresholds: float array [L]. A cell is predicted positive when its probability is >= its
            label's threshold.
        label_names: L names, in column order.
        bootstrap: number of bootstrap resamples, or 0 to skip the interval.
        seed: seed of the bootstrap resampling.

    Returns:
        A JSON-compatible dict with ``"weighted_f1"``, ``"weighted_f1_ci95"`` ([lower, upper]
        or None), ``"micro_f1"``, ``"macro_f1"``, ``"per_label"`` (name to precision, recall,
        f1, support, auroc and threshold), ``"excluded_labels"``, ``"n_reports"`` and
        ``"bootstrap"`` (resamples and seed). Undefined values are None.
    """
    probabilities = _as_probabilities(probabilities)
    n_reports, n_labels = probabilities.shape
    if n_reports == 0:
        raise ValueError("evaluate received no reports. Pass a split with at least one report.")
    labels = _as_binary("labels", labels, probabilities.shape)
    mask = _as_binary("mask", mask, probabilities.shape)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.shape != (n_labels,) or not np.isfinite(thresholds).all():
        raise ValueError(f"thresholds must be {n_labels} finite values, but their shape is {thresholds.shape}.")
    label_names = [str(name) for name in label_names]
    if len(label_names) != n_labels:
        raise ValueError(f"label_names must be {n_labels} names, one per column, but {len(label_names)} were given.")
    if len(set(label_names)) != n_labels:
        raise ValueError("label_names contain duplicates. Each label needs its own name as a key of per_label.")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap!r} is invalid. Use a number of resamples >= 0.")

    predicted = probabilities >= thresholds
    scored = mask == 1
    positive = (labels == 1) & scored
    support = positive.sum(axis=0)
    included = support > 0
    counted = scored & included[np.newaxis, :]
    excluded_labels = [name for name, keep in zip(label_names, included) if not keep]
    if excluded_labels:
        warnings.warn(
            f"{len(excluded_labels)} labels have no scored positive in this split and are left out of every "
            f"average: {', '.join(excluded_labels)}.",
            UndefinedMetricWarning,
            stacklevel=2,
        )

    per_label = {}
    for column, name in enumerate(label_names):
        cells = scored[:, column]
        per_label[name] = _score_label(
            name,
            labels[cells, column].astype(np.int64),
            predicted[cells, column].astype(np.int64),
            probabilities[cells, column],
            included=bool(included[column]),
        )
        per_label[name]["threshold"] = float(thresholds[column])

    label_f1 = np.array([per_label[name]["f1"] for name in label_names], dtype=np.float64)
    if included.any():
        weighted_f1 = float(np.average(label_f1[included], weights=support[included]))
        macro_f1 = float(np.mean(label_f1[included]))
        micro_f1 = float(
            f1_score(labels[counted].astype(np.int64), predicted[counted].astype(np.int64), zero_division=np.nan)
        )
    else:
        warnings.warn(
            "No label has a scored positive in this split, so every average F1 is undefined.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        weighted_f1 = macro_f1 = micro_f1 = math.nan

    interval = _bootstrap_weighted_f1(labels, predicted, counted, resamples=bootstrap, seed=seed)

    result = {
        "n_reports": n_reports,
        "weighted_f1": weighted_f1,
        "weighted_f1_ci95": interval,
        "micro_f1": micro_f1,
        "macro_f1": macro_f1,
        "per_label": per_label,
        "excluded_labels": excluded_labels,
        "bootstrap": {"resamples": int(bootstrap), "seed": int(seed)},
    }
    return to_json_compatible(result)


def to_json_compatible(value: Any) -> Any:
    """Convert numpy values and containers to plain Python, with None for nan and infinities.

    Dict keys become strings, tuples and arrays become lists. Raises TypeError for any other type.
    """
    if isinstance(value, dict):
        return {str(key): to_json_compatible(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_compatible(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_json_compatible(value.tolist())
    if isinstance(value, np.generic):
        return to_json_compatible(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(
        f"to_json_compatible cannot convert {type(value).__name__}. Convert it to a number, string or list first."
    )


def _score_label(
    name: str, targets: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray, *, included: bool
) -> dict[str, Any]:
    """Compute precision, recall, F1, support and AUROC of one label over its scored cells [m]."""
    support = int(targets.sum())
    precision = recall = f1 = math.nan
    if included:
        precisions, recalls, f1s, _ = precision_recall_fscore_support(
            targets, predicted, labels=[1], average=None, zero_division=np.nan
        )
        precision, recall, f1 = float(precisions[0]), float(recalls[0]), float(f1s[0])
        if math.isnan(precision):
            warnings.warn(
                f"Precision of label {name} is undefined because no scored report is predicted positive.",
                UndefinedMetricWarning,
                stacklevel=3,
            )

    if 0 < support < targets.size:
        auroc = float(roc_auc_score(targets, probabilities))
    else:
        auroc = math.nan
        warnings.warn(
            f"AUROC of label {name} is undefined because its {targets.size} scored cells do not contain both classes.",
            UndefinedMetricWarning,
            stacklevel=3,
        )

    return {"precision": precision, "recall": recall, "f1": f1, "support": support, "auroc": auroc}


def _bootstrap_weighted_f1(
    labels: np.ndarray, predicted: np.ndarray, counted: np.ndarray, *, resamples: int, seed: int
) -> Optional[list[float]]:
    """Bootstrap the weighted F1 and return its percentile 95% interval [lower, upper], or None without resamples.

    Reports are drawn with replacement, so a resample is a vector of per-report counts [n], and
    the per-label confusion counts of all resamples are one matrix product. Only cells where
    ``counted`` [n, L] is True enter. A label without a positive in a resample has support 0 and
    so no weight in that resample's average.
    """
    if resamples == 0:
        return None

    n_reports = labels.shape[0]
    true_positive_cells = (counted & predicted & (labels == 1)).astype(np.float64)
    false_positive_cells = (counted & predicted & (labels == 0)).astype(np.float64)
    positive_cells = (counted & (labels == 1)).astype(np.float64)
    rng = np.random.default_rng(seed)
    estimates = np.empty(resamples)

    for start in range(0, resamples, _BOOTSTRAP_CHUNK):
        size = min(_BOOTSTRAP_CHUNK, resamples - start)
        draws = rng.integers(0, n_reports, size=(size, n_reports))
        flat = (draws + n_reports * np.arange(size)[:, np.newaxis]).ravel()
        counts = np.bincount(flat, minlength=size * n_reports).reshape(size, n_reports).astype(np.float64)

        true_positives = counts @ true_positive_cells
        false_positives = counts @ false_positive_cells
        support = counts @ positive_cells
        denominator = support + true_positives + false_positives
        label_f1 = np.divide(2.0 * true_positives, denominator, out=np.zeros(denominator.shape), where=support > 0)
        total_support = support.sum(axis=1)
        weighted_sum = (support * label_f1).sum(axis=1)
        estimates[start : start + size] = np.divide(
            weighted_sum, total_support, out=np.full(size, np.nan), where=total_support > 0
        )

    if np.isnan(estimates).all():
        warnings.warn(
            "No bootstrap resample has a scored positive, so the weighted F1 interval is undefined.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return None
    lower, upper = np.nanpercentile(estimates, [2.5, 97.5])
    return [float(lower), float(upper)]


def _as_probabilities(probabilities: np.ndarray) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D array [n, L], but their shape is {probabilities.shape}.")
    outside = ~((probabilities >= 0.0) & (probabilities <= 1.0))
    if outside.any():
        raise ValueError(
            f"probabilities contain {int(outside.sum())} values outside [0, 1] or nan. "
            "Apply the sigmoid to logits first."
        )
    return probabilities


def _as_binary(name: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != shape:
        raise ValueError(f"{name} has shape {values.shape}, but {shape} was expected.")
    invalid = ~np.isin(values, (0.0, 1.0))
    if invalid.any():
        raise ValueError(f"{name} must contain only 0 and 1, but {int(invalid.sum())} values are something else.")
    return values
