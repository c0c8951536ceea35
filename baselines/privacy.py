"""Privacy accounting for DP-SGD as pure functions: noise calibration and spent epsilon.

The noise multiplier is calibrated with Opacus's RDP accountant (Mironov, 2017, "Renyi
Differential Privacy") for Poisson sampling at rate q over a planned number of steps. The PRV
accountant (Gopi, Lee and Wutschitz, 2021, "Numerical Composition of Differential Privacy")
gives a tighter estimate that is reported beside the RDP figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class PrivacyPlan:
    """The DP-SGD parameters fixed before training starts.

    Attributes:
        target_epsilon, delta: The guarantee the run must meet.
        sample_rate: Poisson sampling rate q = 1 / ceil(N / B) for N reports and batch size B.
        steps: Planned optimizer steps (each one a logical batch).
        noise_multiplier: Gaussian noise standard deviation divided by the clipping norm.
    """

    target_epsilon: float
    delta: float
    sample_rate: float
    steps: int
    noise_multiplier: float


def plan_privacy(*, target_epsilon: float, delta: float, num_train: int, batch_size: int, epochs: float) -> PrivacyPlan:
    """Calibrate the noise multiplier so that ``steps`` Poisson-sampled steps spend at most ``target_epsilon``."""
    from opacus.accountants.utils import get_noise_multiplier

    if target_epsilon <= 0:
        raise ValueError(f"target_epsilon={target_epsilon} is invalid; use a positive number.")
    if not 0 < delta < 1.0 / num_train:
        raise ValueError(f"delta={delta} is not in (0, 1/N) for N={num_train}; use a smaller delta.")
    if batch_size > num_train:
        raise ValueError(
            f"the batch size {batch_size} exceeds the {num_train} training reports; use a smaller batch size "
            "or a larger dataset."
        )
    # Opacus's Poisson loader samples at rate 1 / len(loader) = 1 / ceil(N / B); the plan uses the
    # same rate, so the accountant's history and the calibration agree exactly.
    sample_rate = 1.0 / math.ceil(num_train / batch_size)
    steps = max(1, math.ceil(epochs / sample_rate))
    noise = get_noise_multiplier(
        target_epsilon=target_epsilon,
        target_delta=delta,
        sample_rate=sample_rate,
        steps=steps,
        accountant="rdp",
        epsilon_tolerance=0.01,
    )
    return PrivacyPlan(target_epsilon=target_epsilon, delta=delta, sample_rate=sample_rate, steps=steps, noise_multiplier=noise)


def spent_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """Return the epsilon spent by ``steps`` DP-SGD steps under the named accountant ("rdp" or "prv")."""
    if steps == 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    if accountant == "rdp":
        from opacus.accountants import RDPAccountant

        ledger = RDPAccountant()
    elif accountant == "prv":
        from opacus.accountants import PRVAccountant

        ledger = PRVAccountant()
    else:
        raise ValueError(f"accountant={accountant!r} is invalid; use 'rdp' or 'prv'.")
    ledger.history = [(noise_multiplier, sample_rate, steps)]
    return float(ledger.get_epsilon(delta=delta))
