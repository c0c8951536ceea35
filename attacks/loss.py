"""The LOSS attack of Yeom et al. (2018, arXiv:1709.01604), "Privacy Risk in Machine Learning: Analyzing the
Connection to Overfitting": training reports tend to have a lower loss, so a lower loss means
"more likely a member".
"""

from __future__ import annotations

import numpy as np

from attacks.base import ATTACKS, AuditSignals
from bench.metrics import multilabel_bce


def report_losses(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Compute the masked multi-label BCE of each report, in nats, as a float array [n].

    A report whose labels are all masked has no masked loss. It gets the BCE over all its labels
    instead, so that every report has a finite loss and therefore a score.

    Args:
        logits: float array [n, L] of one model's logits.
        labels: array [n, L] of 0/1 targets.
        mask: array [n, L] of 0/1, 1 where a label is scored.
    """
    losses = multilabel_bce(logits, labels, mask)
    unscored = np.isnan(losses)
    if unscored.any():
        losses[unscored] = multilabel_bce(logits[unscored], labels[unscored], np.ones_like(mask[unscored]))
    return losses


@ATTACKS.register("loss")
def loss_attack(signals: AuditSignals) -> np.ndarray:
    """Score each report by the negative loss of the target model.

    Returns:
        float64 array [n], larger = member: -(masked multi-label BCE of the target), with the
        unmasked BCE for a report whose labels are all masked.
    """
    return -report_losses(signals.target_logits, signals.labels, signals.mask)
