"""ROC metrics of membership attacks: AUC and TPR at low FPR, with bootstrap intervals.

Members are the positive class, and a larger score means "more likely a member". Every
function takes scores [n] and the membership truth is_member [n].
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def roc_metrics(
    scores: np.ndarray, is_member: np.ndarray, fpr_targets: Sequence[float] = (0.01, 0.001, 0.0)
) -> dict[str, Any]:
    """Compute the AUC, the TPR at each target FPR and the ROC curve of an attack.

    The TPR at a target FPR is the largest TPR over ROC points whose FPR is <= the target.
    With fewer than 1/target non-members only FPR 0 qualifies, so the value then equals the TPR
    at 0% FPR.

    Args:
        scores: float array [n] of attack scores, larger = member. Must be finite.
        is_member: bool array [n], True for members.
        fpr_targets: FPR values in [0, 1].

    Returns:
        A dict with ``"auc"``, one ``"tpr_at_<100*target>pct_fpr"`` entry per target (named by
        ``tpr_key``, for example ``"tpr_at_0.1pct_fpr"``), ``"n_members"``, ``"n_non_members"``
        and the ROC points as lists ``"fpr"`` and ``"tpr"``, which keep every threshold.

    Raises:
        ValueError: on mismatched shapes, non-finite scores, or when either class is empty.
    """
    scores, is_member = _validate_scores(scores, is_member)

    fpr, tpr, _ = roc_curve(is_member, scores, drop_intermediate=False)
    result: dict[str, Any] = {"auc": float(roc_auc_score(is_member, scores))}
    for target in fpr_targets:
        result[tpr_key(target)] = tpr_at_fpr(fpr, tpr, target)

    result["n_members"] = int(is_member.sum())
    result["n_non_members"] = int((~is_member).sum())
    result["fpr"] = fpr.tolist()
    result["tpr"] = tpr.tolist()
    return result


def bootstrap_roc(scores: np.ndarray, is_member: np.ndarray, n: int = 200, seed: int = 0) -> dict[str, Any]:
    """Compute percentile 95% bootstrap intervals of the AUC and of the TPR at 1% and 0.1% FPR.

    Each of the ``n`` resamples draws members and non-members with replacement, separately,
    so every resample keeps both classes at their original counts.

    Args:
        scores: float array [n_examples] of attack scores, larger = member. Must be finite.
        is_member: bool array [n_examples], True for members.
        n: number of bootstrap resamples, at least 1.
        seed: seed of the resampling.

    Returns:
        A dict mapping ``"auc"``, ``"tpr_at_1pct_fpr"`` and ``"tpr_at_0.1pct_fpr"`` to
        [lower, upper], plus ``"resamples"`` and ``"seed"``.
    """
    scores, is_member = _validate_scores(scores, is_member)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r} is invalid. Use a positive number of bootstrap resamples.")

    members = np.flatnonzero(is_member)
    non_members = np.flatnonzero(~is_member)
    targets = (0.01, 0.001)
    rng = np.random.default_rng(seed)
    aucs = np.empty(n)
    tprs = np.empty((n, len(targets)))

    for resample in range(n):
        chosen = np.concatenate(
            [rng.choice(members, size=members.size), rng.choice(non_members, size=non_members.size)]
        )
        fpr, tpr, _ = roc_curve(is_member[chosen], scores[chosen], drop_intermediate=False)
        aucs[resample] = roc_auc_score(is_member[chosen], scores[chosen])
        tprs[resample] = [tpr_at_fpr(fpr, tpr, target) for target in targets]

    result: dict[str, Any] = {"auc": _percentile_interval(aucs)}
    for column, target in enumerate(targets):
        result[tpr_key(target)] = _percentile_interval(tprs[:, column])
    result["resamples"] = int(n)
    result["seed"] = int(seed)
    return result


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Return the largest TPR over the ROC points [m] whose FPR is <= ``target``.

    ``fpr`` and ``tpr`` are the arrays of ``sklearn.metrics.roc_curve``, which start at (0, 0),
    so some point always qualifies.
    """
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"FPR target {target} is invalid. Use a value in [0, 1].")
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    qualifying = fpr <= target
    if not qualifying.any():
        raise ValueError(f"No ROC point has FPR <= {target}. Pass the full curve of sklearn.metrics.roc_curve.")
    return float(tpr[qualifying].max())


def tpr_key(target: float) -> str:
    """Return the result key of the TPR at FPR ``target``: 0.01 gives ``"tpr_at_1pct_fpr"``."""
    return f"tpr_at_{100 * target:g}pct_fpr"


def _percentile_interval(values: np.ndarray) -> list[float]:
    lower, upper = np.percentile(values, [2.5, 97.5])
    return [float(lower), float(upper)]


def _validate_scores(scores: np.ndarray, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    is_member = np.asarray(is_member)
    if scores.ndim != 1 or is_member.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and is_member {is_member.shape} must be 1-D arrays of one length.")
    if not np.isin(is_member, (0, 1)).all():
        raise ValueError("is_member must be boolean, or 0/1 values.")
    non_finite = int((~np.isfinite(scores)).sum())
    if non_finite:
        raise ValueError(f"scores contain {non_finite} non-finite values. The attack must return finite scores.")
    is_member = is_member.astype(bool)

    n_members = int(is_member.sum())
    n_non_members = int(is_member.size - n_members)
    if n_members == 0 or n_non_members == 0:
        raise ValueError(
            f"ROC metrics need both classes, but got {n_members} members and {n_non_members} non-members."
        )
    return scores, is_member
