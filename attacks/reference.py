"""An offline reference-model attack: the target's loss on a report, relative to reference models.

This follows "attack R" of Ye et al. (2022), "Enhanced Membership Inference Attacks against
Machine Learning Models", in its offline form: each report is compared only with the reference
models that did not train on it (its OUT references). Calibrating per report removes the part
of the loss that reflects how hard the report is, which the LOSS attack mistakes for membership.
"""

from __future__ import annotations

import warnings

import numpy as np

from attacks.base import ATTACKS, AuditSignals
from attacks.loss import report_losses


@ATTACKS.register("reference")
def reference_attack(signals: AuditSignals, *, scale: bool = False, std_floor: float = 1e-3) -> np.ndarray:
    """Score each report by how far the target's loss falls below its OUT references' losses.

    score[i] = mean of the OUT-reference losses on report i - target loss on report i. With
    ``scale=True``, a report with at least two OUT references has its score divided by
    (sample std of those losses + ``std_floor``). Losses are the masked multi-label BCE, with
    the unmasked BCE for a report whose labels are all masked.

    Args:
        signals: audit signals with ``reference_logits`` [K, n, L] and ``reference_in`` [K, n].
        scale: divide by the OUT references' std, as a per-report z-score.
        std_floor: added to the std, in nats, so that references that agree exactly do not
            divide by zero.

    Returns:
        float64 array [n], larger = member.

    Raises:
        ValueError: when the signals have no reference models, or some report has no OUT reference.
    """
    if signals.reference_logits is None or signals.reference_in is None:
        raise ValueError(
            "The reference attack needs reference models, but signals.reference_logits is None. "
            "Set audit reference_models >= 2 in the config."
        )
    if std_floor <= 0:
        raise ValueError(f"std_floor={std_floor} is invalid. Use a positive value in nats.")
    is_out = ~np.asarray(signals.reference_in, dtype=bool)
    out_count = is_out.sum(axis=0)
    missing = int((out_count == 0).sum())
    if missing:
        raise ValueError(
            f"{missing} of {out_count.size} reports have no OUT reference model, so the reference attack cannot "
            "score them. Train references on complementary halves of the audit pool."
        )

    target_loss = report_losses(signals.target_logits, signals.labels, signals.mask)
    reference_loss = np.stack(
        [report_losses(logits, signals.labels, signals.mask) for logits in signals.reference_logits]
    )
    out_loss = np.where(is_out, reference_loss, np.nan)
    scores = np.nanmean(out_loss, axis=0) - target_loss

    if scale:
        scalable = out_count >= 2
        if not scalable.all():
            # NOTE: these scores stay in nats while the others are z-scores, so they rank on another scale.
            warnings.warn(
                f"{int((~scalable).sum())} of {out_count.size} reports have one OUT reference, so their scores "
                "stay unscaled. Train more reference models to scale every score.",
                stacklevel=2,
            )
        if scalable.any():
            std = np.nanstd(out_loss[:, scalable], axis=0, ddof=1)
            scores[scalable] = scores[scalable] / (std + std_floor)
    return scores
