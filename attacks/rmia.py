"""The relative membership inference attack RMIA of Zarifzadeh et al. (2024), "Low-Cost High-Power
Membership Inference Attacks".

RMIA compares a report x with population reports z through likelihood ratios
ratio(x) = Pr(x | target) / Pr(x). Pr(x | target) is the target's geometric-mean probability of
the true labels of x (``attacks.signals.true_label_probability``), and Pr(x), the probability
averaged over models that may or may not have trained on x, is estimated from reference models:

    Pr(x) = mean over all references of Pr(x | reference)
        when some reference trained on x (IN and OUT references present, the online form);
    Pr(x) = 0.5 * ((1 + a) * mean_out + (1 - a))
        when every reference is OUT for x (the offline form), with mean_out the mean over
        those references. The missing IN models are replaced by a * mean_out + (1 - a), a
        linear interpolation between the OUT mean and probability 1.

The score of x is the share of population reports z with ratio(x) / ratio(z) > gamma.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.special import logsumexp

from attacks.base import ATTACKS, AuditSignals
from attacks.signals import target_and_reference_signals, true_label_log_probability


def rmia(
    signals: AuditSignals, population: Optional[np.ndarray] = None, gamma: float = 1.0, a: float = 0.3
) -> np.ndarray:
    """Score each report by the share of population reports whose likelihood ratio it beats by gamma.

    score[x] = #{z in population, z != x : ratio(x) / ratio(z) > gamma} / #{z in population, z != x},
    computed in log space, with ratio and Pr(x) as in the module docstring. Works with any
    number K >= 1 of reference models.

    Args:
        signals: audit signals with ``reference_logits`` [K, n, L] and ``reference_in`` [K, n].
        population: bool array [n], True for the reports used as z. ``None`` uses every report of
            the pool. Passing ``~signals.is_member`` follows the paper, which compares with known
            non-members. A report is never compared with itself.
        gamma: ratio threshold, > 0.
        a: offline interpolation parameter in [0, 1]. The default 0.3 is this module's choice,
            not a value tuned on the audited model.

    Returns:
        float64 array [n] of shares in [0, 1], larger = member.

    Raises:
        ValueError: without reference models, on invalid ``gamma``, ``a`` or ``population``, or
            when some report has no population report to compare with.
    """
    if not gamma > 0:
        raise ValueError(f"gamma={gamma} is invalid. Use a positive likelihood-ratio threshold.")
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"a={a} is invalid. Use a value in [0, 1].")
    n = signals.is_member.size
    population = _population_mask(population, n)
    compared = population.sum() - population.astype(np.int64)
    if (compared == 0).any():
        raise ValueError(
            f"population has {int(population.sum())} report(s), so some report has no other report to compare with. "
            "Use a population of at least 2 reports."
        )
    target_log_p, reference_log_p, reference_in = target_and_reference_signals(
        signals, true_label_log_probability, "rmia"
    )

    log_ratio = target_log_p - log_marginal_probability(reference_log_p, reference_in, a=a)

    # ratio(x) / ratio(z) > gamma  <=>  log ratio(z) < log ratio(x) - log gamma.
    thresholds = log_ratio - np.log(gamma)
    population_sorted = np.sort(log_ratio[population])
    beaten = np.searchsorted(population_sorted, thresholds, side="left").astype(np.float64)
    beaten -= population & (log_ratio < thresholds)
    return beaten / compared


def log_marginal_probability(reference_log_p: np.ndarray, reference_in: np.ndarray, *, a: float) -> np.ndarray:
    """Estimate log Pr(x) of each report from its reference models.

    Args:
        reference_log_p: float array [K, n] of log Pr(x | reference k).
        reference_in: bool array [K, n], True where reference k trained on report i.
        a: offline interpolation parameter in [0, 1].

    Returns:
        float64 array [n]: the log of the mean over all references when report i has an IN
        reference, else the log of 0.5 * ((1 + a) * mean_out + (1 - a)).
    """
    count = reference_log_p.shape[0]
    log_mean = logsumexp(reference_log_p, axis=0) - np.log(count)
    # log(1 - a) is -inf at a = 1, which logaddexp handles.
    with np.errstate(divide="ignore"):
        offline = np.logaddexp(np.log1p(a) + log_mean, np.log1p(-a)) - np.log(2.0)

    # NOTE: a report that is IN for every reference (possible only with K = 1) also takes the
    # plain mean, which overestimates Pr(x) and lowers its score. Reference halves are drawn
    # independently of the target's membership, so this adds noise but no bias towards members.
    has_in = reference_in.any(axis=0)
    return np.where(has_in, log_mean, offline)


def _population_mask(population: Optional[np.ndarray], n: int) -> np.ndarray:
    if population is None:
        return np.ones(n, dtype=bool)
    population = np.asarray(population)
    if population.shape != (n,) or population.dtype != bool:
        raise ValueError(
            f"population must be a bool array of shape ({n},), but it has shape {population.shape} "
            f"and dtype {population.dtype}."
        )
    return population


@ATTACKS.register("rmia")
def rmia_attack(signals: AuditSignals) -> np.ndarray:
    """Run RMIA against every other report of the pool, gamma = 1, a = 0.3; return scores [n], larger = member."""
    return rmia(signals)
