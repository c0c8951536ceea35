"""Empirical lower bounds on epsilon from the ROC curve of a membership attack.

If training is (epsilon, delta)-DP, every membership test with true-positive rate TPR and
false-positive rate FPR satisfies TPR <= e^epsilon * FPR + delta and
1 - FPR <= e^epsilon * (1 - TPR) + delta (Kairouz, Oh and Viswanath, 2015, "The Composition
Theorem for Differential Privacy"). So at each threshold

    epsilon >= max(log((TPR_low - delta) / FPR_high), log((1 - FPR_high - delta) / (1 - TPR_low))),

where TPR_low is a lower and FPR_high an upper Clopper-Pearson confidence bound, so that
sampling noise in the audit pool cannot inflate the estimate. Both ratios fall as TPR falls or
FPR rises, so these two bounds are the conservative choice for both. (Plugging FPR_low and
TPR_high into the second ratio would raise it, and the result would no longer be a lower bound.)
Jagielski, Ullman and Oprea (2020), "Auditing Differentially Private Machine Learning: How
Private is Private SGD?", audit DP-SGD with Clopper-Pearson bounds in the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import beta
from sklearn.metrics import roc_curve

from attacks.metrics import _validate_scores


def empirical_epsilon_from_roc(
    scores: np.ndarray, is_member: np.ndarray, delta: float, confidence: float = 0.95, *, bonferroni: bool = True
) -> dict[str, Any]:
    """Compute the largest epsilon lower bound over the thresholds "member if score >= t".

    At each threshold the one-sided Clopper-Pearson bounds TPR_low and FPR_high each use level
    (1 - confidence) / 2, so both are valid together with probability >= ``confidence`` (union
    bound). With ``bonferroni=True`` that level is further divided by the number of thresholds
    tried, so the maximum over thresholds is also valid with probability >= ``confidence``.
    With ``bonferroni=False`` only the bound at a threshold fixed in advance would reach that
    confidence, and the maximum over thresholds is optimistic.

    Args:
        scores: float array [n] of attack scores, larger = member. Must be finite.
        is_member: bool array [n], True for members.
        delta: the delta of the DP guarantee, in [0, 1).
        confidence: probability that the bound holds, in (0, 1).
        bonferroni: divide the level by the number of thresholds.

    Returns:
        A dict with ``"epsilon"`` (>= 0, 0 when no threshold gives a positive bound), the
        ``"threshold"`` that attains it (None when epsilon is 0), the empirical ``"tpr"`` and
        ``"fpr"`` there, ``"thresholds_tested"``, ``"confidence"``, ``"delta"`` and ``"bonferroni"``.
    """
    scores, is_member = _validate_scores(scores, is_member)
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta={delta} is invalid. Use a value in [0, 1).")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} is invalid. Use a value in (0, 1).")
    positives = int(is_member.sum())
    negatives = int(is_member.size - positives)

    fpr, tpr, thresholds = roc_curve(is_member, scores, drop_intermediate=False)
    # The first ROC point (threshold +inf, nothing predicted member) cannot give a positive bound.
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]
    true_positives = np.rint(tpr * positives).astype(np.int64)
    false_positives = np.rint(fpr * negatives).astype(np.int64)
    level = (1.0 - confidence) / 2
    if bonferroni:
        level /= thresholds.size

    tpr_low, _ = clopper_pearson(true_positives, positives, level)
    _, fpr_high = clopper_pearson(false_positives, negatives, level)
    # The Clopper-Pearson bounds keep FPR_high > 0 and TPR_low < 1, so no denominator is 0. A
    # numerator <= 0 gives -inf, which means "no bound" and becomes 0 below.
    with np.errstate(divide="ignore"):
        from_positives = np.log(np.maximum(tpr_low - delta, 0.0) / fpr_high)
        from_negatives = np.log(np.maximum(1.0 - fpr_high - delta, 0.0) / (1.0 - tpr_low))
    bounds = np.maximum(np.maximum(from_positives, from_negatives), 0.0)

    best = int(np.argmax(bounds))
    epsilon = float(bounds[best])
    return {
        "epsilon": epsilon,
        "threshold": float(thresholds[best]) if epsilon > 0 else None,
        "tpr": float(tpr[best]),
        "fpr": float(fpr[best]),
        "thresholds_tested": int(thresholds.size),
        "confidence": confidence,
        "delta": delta,
        "bonferroni": bonferroni,
    }


def clopper_pearson(successes: np.ndarray, trials: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Return one-sided Clopper-Pearson bounds (lower, upper) on binomial rates.

    Each bound is wrong with probability <= ``level``.

    lower = Beta quantile at ``level`` with parameters (k, trials - k + 1), and 0 when k = 0.
    upper = Beta quantile at 1 - ``level`` with parameters (k + 1, trials - k), and 1 when k = trials.

    Args:
        successes: int array [T] of success counts k in [0, trials].
        trials: number of trials, >= 1.
        level: tail probability of each bound, in (0, 1).
    """
    successes = np.asarray(successes, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lower = beta.ppf(level, successes, trials - successes + 1)
        upper = beta.ppf(1.0 - level, successes + 1, trials - successes)
    lower = np.where(successes == 0, 0.0, lower)
    upper = np.where(successes == trials, 1.0, upper)
    return lower, upper
