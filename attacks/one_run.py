"""Lower bounds on epsilon from one training run, after Steinke, Nasr and Jagielski (2023,
arXiv:2305.08846), "Privacy Auditing with One (1) Training Run".

Setup: m canaries are each included in the training data independently with probability 1/2.
After training, an auditor ranks the canaries by an attack score (larger = member), guesses IN
for the k+ highest scores and OUT for the k- lowest, and abstains on the rest. Let r = k+ + k-
be the number of guesses and v the number of correct ones. The paper shows that when training
is (epsilon, delta)-DP,

    P[correct guesses >= v] <= beta + 2 * m * delta * alpha,

where, with W ~ Binomial(r, q) and q = e^epsilon / (1 + e^epsilon) the accuracy of
epsilon-DP randomized response,

    beta = P[W >= v]   and   alpha = max over i in 1..v of P[v - i <= W < v] / i.

That right-hand side is the p-value of the observed v under the hypothesis "(epsilon, delta)-DP".
The lower bound is the largest epsilon whose p-value is still <= 1 - confidence, that is, the
largest epsilon that the observed guesses reject. For delta = 0 the bound is beta alone.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
from scipy.stats import binom

# Epsilons are scanned on this grid before bisection. At epsilon 60, q = 1 - 9e-27 rounds to 1.0,
# so every p-value reaches 1 there and the scan always ends.
_SCAN_STEP = 0.1
_SCAN_MAX = 60.0
_BISECTION_STEPS = 40


def one_run_epsilon_lower_bound(
    scores: np.ndarray,
    included: np.ndarray,
    *,
    guesses_positive: int,
    guesses_negative: int,
    delta: float,
    confidence: float = 0.95,
) -> float:
    """Compute the one-run lower bound on epsilon of the module docstring for one choice of k+ and k-.

    The auditor guesses IN for the ``guesses_positive`` highest scores and OUT for the
    ``guesses_negative`` lowest. Equal scores are ordered by index (a stable sort), which is a
    function of the scores alone and so keeps the guesses independent of the inclusion draw.

    Args:
        scores: float array [m] of attack scores on the canaries, larger = member. Must be finite.
        included: bool array [m], True where the canary was in the training data. Each must
            have been included independently with probability 1/2, or the bound is invalid.
        guesses_positive: k+, number of IN guesses, >= 0.
        guesses_negative: k-, number of OUT guesses, >= 0, with k+ + k- in [1, m].
        delta: the delta of the hypothesis, in [0, 1].
        confidence: probability, over the inclusion draw, that the bound holds, in (0, 1).

    Returns:
        A lower bound on epsilon, >= 0. It is 0 when even epsilon = 0 is not rejected.
    """
    scores, included = _validate_canaries(scores, included)
    m = scores.size
    positive = _count("guesses_positive", guesses_positive)
    negative = _count("guesses_negative", guesses_negative)
    if not 1 <= positive + negative <= m:
        raise ValueError(
            f"guesses_positive + guesses_negative = {positive + negative} is invalid. Use a total in [1, {m}]."
        )
    _validate_probabilities(delta, confidence)

    correct = correct_guesses(scores, included, guesses_positive=positive, guesses_negative=negative)
    return epsilon_lower_bound(m=m, guesses=positive + negative, correct=correct, delta=delta, confidence=confidence)


def correct_guesses(scores: np.ndarray, included: np.ndarray, *, guesses_positive: int, guesses_negative: int) -> int:
    """Count the correct guesses: IN for the ``guesses_positive`` highest scores, OUT for the ``guesses_negative`` lowest.

    Equal scores are ordered by index (a stable sort).
    """
    order = np.argsort(scores, kind="stable")
    lowest = order[:guesses_negative]
    highest = order[scores.size - guesses_positive :]
    return int((~included[lowest]).sum()) + int(included[highest].sum())


def epsilon_lower_bound(*, m: int, guesses: int, correct: int, delta: float, confidence: float = 0.95) -> float:
    """Compute the largest epsilon whose p-value for ``correct`` of ``guesses`` guesses is <= 1 - confidence.

    The p-value is the one in the module docstring. It is scanned over epsilon in steps of 0.1,
    and the first step whose p-value exceeds 1 - confidence is refined by bisection. Every
    grid point below the returned value is rejected.

    Args:
        m: number of canaries.
        guesses: r, number of guesses, in [1, m].
        correct: v, number of correct guesses, in [0, r].
        delta: the delta of the hypothesis, in [0, 1].
        confidence: probability that the bound holds, in (0, 1).

    Returns:
        A lower bound on epsilon, >= 0.
    """
    if not 0 <= correct <= guesses <= m or guesses < 1:
        raise ValueError(
            f"correct={correct}, guesses={guesses}, m={m} are invalid. "
            "Use 0 <= correct <= guesses <= m and guesses >= 1."
        )
    _validate_probabilities(delta, confidence)
    level = 1.0 - confidence

    if one_run_p_value(m=m, guesses=guesses, correct=correct, epsilon=0.0, delta=delta) > level:
        return 0.0
    # NOTE: the delta = 0 p-value increases with epsilon (a binomial tail grows with q). The alpha
    # term need not, so for delta > 0 a dip between grid points could make the result optimistic.
    low = 0.0
    high = _SCAN_STEP
    while one_run_p_value(m=m, guesses=guesses, correct=correct, epsilon=high, delta=delta) <= level:
        low = high
        high += _SCAN_STEP
        if high > _SCAN_MAX:
            return low
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if one_run_p_value(m=m, guesses=guesses, correct=correct, epsilon=middle, delta=delta) <= level:
            low = middle
        else:
            high = middle
    return low


def one_run_p_value(*, m: int, guesses: int, correct: int, epsilon: float, delta: float) -> float:
    """Return min(1, beta + 2 * m * delta * alpha), the p-value of the module docstring."""
    q = 1.0 / (1.0 + math.exp(-epsilon))
    beta = float(binom.sf(correct - 1, guesses, q))
    if delta == 0 or correct == 0:
        return min(1.0, beta)

    # between[i - 1] = P[v - i <= W < v] for i = 1..v, a running sum of the pmf downwards from v - 1.
    below_v = binom.pmf(np.arange(correct - 1, -1, -1), guesses, q)
    between = np.cumsum(below_v)
    alpha = float(np.max(between / np.arange(1, correct + 1)))
    return min(1.0, beta + 2.0 * m * delta * alpha)


def best_one_run_epsilon(
    scores: np.ndarray,
    included: np.ndarray,
    delta: float,
    ks: Optional[Sequence[tuple[int, int]]] = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Try several (k+, k-) and return the largest one-run lower bound, corrected for the choice.

    Picking k+ and k- after seeing the scores is a choice made on the same data, so each try
    runs at confidence 1 - (1 - confidence) / len(ks) (Bonferroni). The maximum is then a valid
    lower bound with probability >= ``confidence``.

    Args:
        scores: float array [m] of attack scores on the canaries, larger = member.
        included: bool array [m], True where the canary was in the training data.
        delta: the delta of the hypothesis, in [0, 1].
        ks: (k+, k-) pairs to try. ``None`` tries k = 2%, 5%, 10%, 25% and 50% of m (at least 1)
            as (k, 0) and (k, k), dropping duplicates and pairs with k+ + k- > m.
        confidence: probability that the returned bound holds, in (0, 1).

    Returns:
        A dict with ``"epsilon"`` (the bound), ``"guesses_positive"`` and ``"guesses_negative"``
        of the best pair, ``"tried"`` (len(ks)) and ``"confidence_per_try"``.
    """
    scores, included = _validate_canaries(scores, included)
    _validate_probabilities(delta, confidence)
    pairs = _default_ks(scores.size) if ks is None else [(int(p), int(n)) for p, n in ks]
    if not pairs:
        raise ValueError("ks is empty. Pass at least one (guesses_positive, guesses_negative) pair.")
    per_try = 1.0 - (1.0 - confidence) / len(pairs)

    best: dict[str, Any] = {"epsilon": -1.0}
    for positive, negative in pairs:
        epsilon = one_run_epsilon_lower_bound(
            scores, included, guesses_positive=positive, guesses_negative=negative, delta=delta, confidence=per_try
        )
        if epsilon > best["epsilon"]:
            best = {"epsilon": epsilon, "guesses_positive": positive, "guesses_negative": negative}

    best["tried"] = len(pairs)
    best["confidence_per_try"] = per_try
    return best


def _default_ks(m: int) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for fraction in (0.02, 0.05, 0.1, 0.25, 0.5):
        k = max(1, round(fraction * m))
        for pair in ((k, 0), (k, k)):
            if sum(pair) <= m and pair not in pairs:
                pairs.append(pair)
    return pairs


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}={value!r} is invalid. Use a non-negative integer.")
    return int(value)


def _validate_probabilities(delta: float, confidence: float) -> None:
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta={delta} is invalid. Use a value in [0, 1].")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} is invalid. Use a value in (0, 1).")


def _validate_canaries(scores: np.ndarray, included: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    included = np.asarray(included)
    if scores.ndim != 1 or included.shape != scores.shape or scores.size == 0:
        raise ValueError(
            f"scores {scores.shape} and included {included.shape} must be non-empty 1-D arrays of one length."
        )
    if not np.isin(included, (0, 1)).all():
        raise ValueError("included must be boolean, or 0/1 values.")
    if not np.isfinite(scores).all():
        non_finite = int((~np.isfinite(scores)).sum())
        raise ValueError(f"scores contain {non_finite} non-finite values. Expected finite scores.")
    return scores, included.astype(bool)
