"""The likelihood-ratio attack LiRA of Carlini et al. (2022, arXiv:2112.03570), "Membership
Inference Attacks From First Principles", in its offline and online forms.

Each report's signal phi is the mean logit-scaled confidence in its true labels
(``attacks.signals.label_confidence_logits``). Across models, phi on one report is modelled as a
Gaussian: N(mu_in, sigma_in^2) over models that trained on the report (IN) and
N(mu_out, sigma_out^2) over models that did not (OUT). The reference models give per-report
estimates of those parameters, and the target model's phi is scored against them.

Variance estimates (``variance``):
    "per_example": sigma of a report is the sample std (ddof=1) of its own IN or OUT
        reference signals, so it needs at least 2 references on that side for every report.
    "global": one sigma per side for all reports, from the pooled residuals around each
        report's own mean: sigma^2 = sum_i sum_k (phi_ki - mu_i)^2 / sum_i (c_i - 1), with c_i
        the report's number of references on that side. Pooling over reports makes it far
        less noisy than "per_example" when references are few. It needs at least one report
        with 2 references on that side, so complementary pairs need audit reference_models >= 4.
Either sigma is raised to at least ``min_std`` so that references that agree exactly do not
divide by zero.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.stats import norm

from attacks.base import ATTACKS, AuditSignals
from attacks.signals import label_confidence_logits, target_and_reference_signals

Variance = Literal["per_example", "global"]
VARIANCES = ("per_example", "global")


def lira_offline(signals: AuditSignals, *, variance: Variance = "global", min_std: float = 1e-3) -> np.ndarray:
    """Score each report by the one-sided Gaussian test of offline LiRA, using OUT references only.

    score[i] = z[i] = (phi[i] - mu_out[i]) / sigma_out[i], where phi[i] is the target's signal,
    and mu_out[i] and sigma_out[i] are the mean and std of the OUT-reference signals on report i.
    Phi(z[i]), with Phi the standard normal CDF, is the probability that an OUT model is less
    confident on report i than the target, so a larger score means "more likely a member". The
    score is z rather than Phi(z) or log Phi(z): all three rank reports alike, but log Phi(z)
    (scipy's ``log_ndtr``) rounds to 0 in float64 once z passes about 38, which happens when the target is far more
    confident than every reference, and tied scores would flatten the ROC curve.

    Args:
        signals: audit signals with ``reference_logits`` [K, n, L] and ``reference_in`` [K, n].
        variance: "per_example" or "global", as described in the module docstring.
        min_std: lower bound on every sigma, in logit units.

    Returns:
        float64 array [n] of standardized signals, larger = member.

    Raises:
        ValueError: without reference models, when a report has no OUT reference, or when the
            chosen variance estimate lacks the references it needs.
    """
    _validate_options(variance, min_std)
    target, references, reference_in = target_and_reference_signals(signals, label_confidence_logits, "lira-offline")

    mu_out, sigma_out = fit_gaussians(references, ~reference_in, variance=variance, min_std=min_std, side="OUT")
    return (target - mu_out) / sigma_out


def lira_online(signals: AuditSignals, *, variance: Variance = "global", min_std: float = 1e-3) -> np.ndarray:
    """Score each report by the Gaussian log-likelihood ratio of online LiRA.

    score[i] = log N(phi[i]; mu_in[i], sigma_in[i]^2) - log N(phi[i]; mu_out[i], sigma_out[i]^2),
    with N the normal density and the parameters fitted to report i's IN and OUT reference
    signals. With variance="global", sigma_in and sigma_out are two separate pooled values.

    Args:
        signals: audit signals with ``reference_logits`` [K, n, L] and ``reference_in`` [K, n].
        variance: "per_example" or "global", as described in the module docstring.
        min_std: lower bound on every sigma, in logit units.

    Returns:
        float64 array [n] of log-likelihood ratios in nats, larger = member.

    Raises:
        ValueError: without reference models, when a report has no IN or no OUT reference, or
            when the chosen variance estimate lacks the references it needs.
    """
    _validate_options(variance, min_std)
    target, references, reference_in = target_and_reference_signals(signals, label_confidence_logits, "lira-online")

    mu_in, sigma_in = fit_gaussians(references, reference_in, variance=variance, min_std=min_std, side="IN")
    mu_out, sigma_out = fit_gaussians(references, ~reference_in, variance=variance, min_std=min_std, side="OUT")
    return norm.logpdf(target, loc=mu_in, scale=sigma_in) - norm.logpdf(target, loc=mu_out, scale=sigma_out)


def fit_gaussians(
    values: np.ndarray, selected: np.ndarray, *, variance: Variance, min_std: float, side: str
) -> tuple[np.ndarray, np.ndarray]:
    """Fit one Gaussian per report to the selected reference signals.

    Args:
        values: float array [K, n] of reference signals.
        selected: bool array [K, n], True where reference k is on this side (IN or OUT) for report i.
        variance: "per_example" or "global", as described in the module docstring.
        min_std: lower bound on every sigma.
        side: "IN" or "OUT", used in error messages.

    Returns:
        Means [n] and stds [n]. With variance="global" every std is the same pooled value.

    Raises:
        ValueError: when a report has no selected reference, or when the variance estimate
            lacks the references it needs.
    """
    counts = selected.sum(axis=0)
    missing = int((counts == 0).sum())
    if missing:
        raise ValueError(
            f"{missing} of {counts.size} reports have no {side} reference model, so LiRA cannot score them. "
            "Train references on complementary halves of the audit pool."
        )

    means = np.where(selected, values, 0.0).sum(axis=0) / counts
    squared_residuals = np.where(selected, values - means, 0.0) ** 2

    if variance == "per_example":
        too_few = int((counts < 2).sum())
        if too_few:
            raise ValueError(
                f"variance='per_example' needs at least 2 {side} references per report, but {too_few} of "
                f"{counts.size} reports have fewer. Use variance='global' or train more reference models."
            )
        stds = np.sqrt(squared_residuals.sum(axis=0) / (counts - 1))
    else:
        degrees_of_freedom = int((counts - 1).sum())
        if degrees_of_freedom == 0:
            raise ValueError(
                f"variance='global' needs at least one report with 2 {side} references, but every report has 1. "
                "Set audit reference_models >= 4."
            )
        stds = np.full(counts.size, np.sqrt(squared_residuals.sum() / degrees_of_freedom))

    return means, np.maximum(stds, min_std)


def _validate_options(variance: str, min_std: float) -> None:
    if variance not in VARIANCES:
        raise ValueError(f"variance={variance!r} is invalid. Use one of {', '.join(repr(v) for v in VARIANCES)}.")
    if not min_std > 0:
        raise ValueError(f"min_std={min_std} is invalid. Use a positive value in logit units.")


@ATTACKS.register("lira-offline")
def lira_offline_attack(signals: AuditSignals) -> np.ndarray:
    """Run offline LiRA with a global variance; return float scores [n], larger = member."""
    return lira_offline(signals)


@ATTACKS.register("lira-online")
def lira_online_attack(signals: AuditSignals) -> np.ndarray:
    """Run online LiRA with global variances; return float scores [n], larger = member."""
    return lira_online(signals)
