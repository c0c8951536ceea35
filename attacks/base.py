"""The one signature every membership attack has, and the signals it reads.

An attack is a pure function ``AuditSignals -> scores`` of shape [n]: one score per report of
the audit pool, where a larger score means "more likely a member". Running models to get the
signals happens elsewhere (``bench.audit``), so attacks are testable without a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from bench.registry import Registry


@dataclass(frozen=True, eq=False)
class AuditSignals:
    """Model outputs on the audit pool.

    Attributes:
        target_logits: float array [n, L], the target model's logits on the n audit reports.
        labels: float array [n, L], multi-hot targets of those reports.
        mask: float array [n, L], 1 where a label is scored, 0 where it is masked out.
        is_member: bool array [n], True where the report trained the target model.
        reference_logits: float array [K, n, L] of K reference models, or ``None``.
        reference_in: bool array [K, n], True where report i trained reference model k.
    """

    target_logits: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    is_member: np.ndarray
    reference_logits: Optional[np.ndarray] = None
    reference_in: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        n, num_labels = self.target_logits.shape
        if self.labels.shape != (n, num_labels) or self.mask.shape != (n, num_labels):
            raise ValueError(
                f"labels {self.labels.shape} and mask {self.mask.shape} must match target_logits {(n, num_labels)}."
            )
        if self.is_member.shape != (n,):
            raise ValueError(f"is_member has shape {self.is_member.shape}; expected ({n},).")
        if (self.reference_logits is None) != (self.reference_in is None):
            raise ValueError("reference_logits and reference_in must be given together.")
        if self.reference_logits is not None:
            k = self.reference_logits.shape[0]
            if self.reference_logits.shape != (k, n, num_labels) or self.reference_in.shape != (k, n):
                raise ValueError(
                    f"reference_logits {self.reference_logits.shape} and reference_in {self.reference_in.shape} "
                    f"must have shapes (K, {n}, {num_labels}) and (K, {n})."
                )


Attack = Callable[[AuditSignals], np.ndarray]

ATTACKS: Registry[Attack] = Registry("attack")


def run_attack(name: str, signals: AuditSignals) -> np.ndarray:
    """Run the attack registered as ``name``; return float scores [n], larger = member."""
    scores = np.asarray(ATTACKS.get(name)(signals), dtype=np.float64)
    if scores.shape != signals.is_member.shape:
        raise ValueError(f"attack {name!r} returned shape {scores.shape}; expected {signals.is_member.shape}.")
    return scores


# Registration happens on import; keep these imports after ATTACKS is defined.
from attacks import extra, loss, reference  # noqa: E402,F401
