"""Per-report membership signals that the reference-model attacks (LiRA, RMIA) read from logits.

A multi-label model outputs one sigmoid per label, so the probability it gives to the TRUE value
of label j is p_true = sigmoid(logit) when the label is 1 and 1 - sigmoid(logit) when it is 0.
Carlini et al. (2022), "Membership Inference Attacks From First Principles", score a model on an
example by the logit-scaled confidence phi = log(p_true / (1 - p_true)), which is close to
Gaussian across models. For a sigmoid output phi is exactly +logit when the label is 1 and
-logit when it is 0, so it needs no clipping. Larger signals mean a more confident model,
which is what training on a report tends to cause.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from attacks.base import AuditSignals
from attacks.loss import report_losses

ReportSignal = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def per_label_signals(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Compute the logit-scaled confidence phi of each label in the true label value.

    Args:
        logits: float array [n, L] of one model's logits. Must be finite.
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1, 1 where a label is scored.

    Returns:
        float64 array [n, L]: +logit where the label is 1, -logit where it is 0, and nan where
        the label is masked out.
    """
    logits, labels, mask = _validate(logits, labels, mask)

    signed = np.where(labels == 1, logits, -logits)
    return np.where(mask == 1, signed, np.nan)


def label_confidence_logits(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Compute each report's signal phi: the mean over its scored labels of the per-label phi.

    phi[i] = mean over scored labels j of s_ij * logits[i, j], where s_ij = +1 when the label is
    1 and -1 when it is 0, because log(p_true / (1 - p_true)) equals that signed logit for a
    sigmoid output. The mean keeps reports with many and few scored labels on one scale. A
    report whose labels are all masked gets the mean over all its labels instead, as the LOSS
    attack does, so every report has a finite signal.

    Args:
        logits: float array [n, L] of one model's logits. Must be finite.
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1, 1 where a label is scored.

    Returns:
        float64 array [n]. Larger means the model is more confident in the true labels, so
        larger means "more likely a member".
    """
    logits, labels, mask = _validate(logits, labels, mask)

    signed = np.where(labels == 1, logits, -logits)
    scored_count = mask.sum(axis=1)
    unscored = scored_count == 0
    weights = np.where(unscored[:, np.newaxis], 1.0, mask)
    return (signed * weights).sum(axis=1) / weights.sum(axis=1)


def true_label_probability(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Compute each report's geometric mean over its scored labels of p_true, the RMIA signal.

    The geometric mean of p_true equals exp(-masked multi-label BCE), so this probability and
    the LOSS attack's loss rank reports identically. A report whose labels are all masked uses
    all its labels, as the LOSS attack does.

    Args:
        logits: float array [n, L] of one model's logits. Must be finite.
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1, 1 where a label is scored.

    Returns:
        float64 array [n] of probabilities in [0, 1], larger = member. A probability underflows
        to 0 only for a mean BCE above about 745 nats. ``true_label_log_probability`` never does.
    """
    return np.exp(true_label_log_probability(logits, labels, mask))


def true_label_log_probability(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Compute the natural log of ``true_label_probability``: minus the masked multi-label BCE, shape [n]."""
    return -report_losses(logits, labels, mask)


def target_and_reference_signals(
    signals: AuditSignals, signal: ReportSignal, attack: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply a per-report signal function to the target model and to each of the K references.

    Args:
        signals: audit signals with ``reference_logits`` [K, n, L] and ``reference_in`` [K, n].
        signal: one of this module's [n]-valued functions, for example ``label_confidence_logits``.
        attack: attack name, used in the error message.

    Returns:
        The target's signal [n], the references' signals [K, n] and ``reference_in`` as a bool
        array [K, n].

    Raises:
        ValueError: when the signals have no reference models.
    """
    if signals.reference_logits is None or signals.reference_in is None:
        raise ValueError(
            f"The {attack} attack needs reference models, but signals.reference_logits is None. "
            "Set audit reference_models >= 2 in the config."
        )

    target = signal(signals.target_logits, signals.labels, signals.mask)
    references = np.stack([signal(logits, signals.labels, signals.mask) for logits in signals.reference_logits])
    return target, references, np.asarray(signals.reference_in, dtype=bool)


def _validate(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must be a 2-D array [n, L], but their shape is {logits.shape}.")
    non_finite = int((~np.isfinite(logits)).sum())
    if non_finite:
        raise ValueError(f"logits contain {non_finite} non-finite values. Expected finite logits.")

    checked = []
    for name, values in (("labels", labels), ("mask", mask)):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != logits.shape:
            raise ValueError(f"{name} has shape {values.shape}, but logits have shape {logits.shape}.")
        if not np.isin(values, (0.0, 1.0)).all():
            raise ValueError(f"{name} must contain only 0 and 1.")
        checked.append(values)
    return logits, checked[0], checked[1]
