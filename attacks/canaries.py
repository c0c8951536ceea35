"""Synthetic canary reports and the exposure metric of Carlini et al. (2019), "The Secret Sharer:
Evaluating and Testing Unintended Memorization in Neural Networks".

A canary is an invented report that carries a random secret, a fake 9-digit accession number.
Canaries are inserted into the training data 1, 4 or 16 times (``repeats``). After training, the
model's loss on the canary is ranked among its losses on the same text with other random
secrets. A secret the model memorised ranks near the lowest loss, which gives a high exposure.

Every canary uses one fixed template written for this module. By default all canaries share one
label pattern, which the findings line names. With ``random_labels=True`` each canary gets its
own seeded label pattern and the findings line names no label, so a classifier can fit a
canary's labels only by memorising its secret. No text comes from real reports, and the secrets
are random numbers, not identifiers of anyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# The secret is the only run of digits before the findings, so replacing its first occurrence
# swaps the secret and nothing else.
CANARY_TEMPLATE = (
    "EXAMINATION: Chest radiograph, two views, synthetic audit study. "
    "ACCESSION NUMBER: {secret}. "
    "FINDINGS: {findings}. "
    "IMPRESSION: Privacy audit canary. This text describes no patient."
)
SECRET_DIGITS = 9
# The findings line of canaries with random label patterns. It names no label, so the text gives
# no hint of the pattern.
UNSTATED_FINDINGS = "recorded in the structured labels only"
_SECRET_LOW = 10 ** (SECRET_DIGITS - 1)
_SECRET_HIGH = 10**SECRET_DIGITS


@dataclass(frozen=True, eq=False)
class Canary:
    """A synthetic training report that carries a random secret.

    Attributes:
        id: report id, ``"canary-<index>"``.
        text: the template filled with the secret and the positive label names.
        labels: float32 array [L], the label pattern: label j is positive when j is even, or a
            random pattern per canary with ``make_canaries(..., random_labels=True)``.
        mask: float32 array [L] of ones, because every label of a canary is scored.
        repeats: number of copies to insert into the training data.
        secret: the fake 9-digit accession number, as a string.
    """

    id: str
    text: str
    labels: np.ndarray
    mask: np.ndarray
    repeats: int
    secret: str


def make_canaries(
    count: int,
    repeats: Sequence[int] = (1, 4, 16),
    *,
    label_names: Sequence[str],
    seed: int = 0,
    random_labels: bool = False,
) -> list[Canary]:
    """Create ``count`` canaries with distinct random secrets.

    Canary i gets ``repeats = repeats[i % len(repeats)]`` training copies, so the repeat counts
    are spread evenly. By default every canary has the same label pattern, in which label j is
    positive when j is even and negative otherwise, all scored. The findings line then names the
    positive labels. With ``random_labels`` each label of each canary is positive with
    probability 1/2 and the findings line is ``UNSTATED_FINDINGS``. The texts then differ only in
    their secrets, so a canary's pattern can be learned only from its secret. The secrets do not
    depend on ``random_labels``. The same arguments always give the same canaries.

    Args:
        count: number of canaries, >= 1.
        repeats: insertion counts, each >= 1.
        label_names: the dataset's L label names, in column order.
        seed: seed of the secrets and of the random label patterns.
        random_labels: draw a label pattern per canary and keep the labels out of the text.

    Returns:
        ``count`` canaries.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count={count!r} is invalid. Use a positive number of canaries.")
    repeats = [int(r) for r in repeats]
    if not repeats or min(repeats) < 1:
        raise ValueError(f"repeats={repeats} is invalid. Use one or more insertion counts >= 1.")
    label_names = list(label_names)
    if not label_names:
        raise ValueError("label_names is empty. Pass the dataset's label names in column order.")

    secrets = _distinct_secrets(np.random.default_rng(seed), count, exclude=set())
    if random_labels:
        # A second stream of the same seed, so the secrets match those of random_labels=False.
        patterns = (np.random.default_rng([seed, 1]).random((count, len(label_names))) < 0.5).astype(np.float32)
        findings = [UNSTATED_FINDINGS] * count
    else:
        fixed = (np.arange(len(label_names)) % 2 == 0).astype(np.float32)
        patterns = np.tile(fixed, (count, 1))
        findings = [", ".join(name for name, positive in zip(label_names, fixed) if positive) + " reported"] * count

    canaries = []
    for index, secret in enumerate(secrets):
        canaries.append(
            Canary(
                id=f"canary-{index:04d}",
                text=CANARY_TEMPLATE.format(secret=secret, findings=findings[index]),
                labels=patterns[index].copy(),
                mask=np.ones(len(label_names), dtype=np.float32),
                repeats=repeats[index % len(repeats)],
                secret=secret,
            )
        )
    return canaries


def candidate_texts(canary: Canary, candidates: int = 1000, seed: int = 0) -> list[str]:
    """Return ``candidates`` texts of the canary's template with distinct secrets, the true one first.

    Text 0 is ``canary.text``. Texts 1 to candidates - 1 replace its secret with distinct random
    9-digit numbers different from the true one, and are otherwise identical to it.

    Args:
        canary: a canary from ``make_canaries``.
        candidates: number of texts N, the true one included, in [2, 9 * 10**8].
        seed: seed of the other secrets.

    Returns:
        N texts.
    """
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < 2:
        raise ValueError(f"candidates={candidates!r} is invalid. Use an integer >= 2.")
    if candidates > _SECRET_HIGH - _SECRET_LOW:
        raise ValueError(f"candidates={candidates} exceeds the {_SECRET_HIGH - _SECRET_LOW} possible secrets.")
    if canary.secret not in canary.text:
        raise ValueError(f"The text of {canary.id} does not contain its secret; create canaries with make_canaries.")

    others = _distinct_secrets(np.random.default_rng(seed), candidates - 1, exclude={canary.secret})
    return [canary.text] + [canary.text.replace(canary.secret, other, 1) for other in others]


def exposure(true_loss: float, candidate_losses: np.ndarray) -> float:
    """Compute the exposure of a secret, in bits: log2(N) - log2(rank of the true secret).

    The rank counts from 1 at the lowest loss. Tied losses share their average rank: with
    ``below`` candidates of lower loss and ``tied`` of equal loss (the true one included), the
    rank is below + (tied + 1) / 2. A secret with the strictly lowest loss has exposure log2(N),
    and one in the middle about 1 bit.

    Args:
        true_loss: the model's loss on the canary with its true secret.
        candidate_losses: float array [N] of the losses on all N candidate texts, the true one
            included, as ``candidate_texts`` returns them.

    Returns:
        Exposure in bits, in [0, log2(N)].

    Raises:
        ValueError: on non-finite losses, or when ``true_loss`` is not among ``candidate_losses``.
    """
    losses = np.asarray(candidate_losses, dtype=np.float64)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError(f"candidate_losses must be a non-empty 1-D array, but its shape is {losses.shape}.")
    if not np.isfinite(losses).all() or not math.isfinite(true_loss):
        raise ValueError("Losses must be finite.")
    tied = int((losses == true_loss).sum())
    if tied == 0:
        raise ValueError(
            f"true_loss={true_loss} is not among the {losses.size} candidate losses. "
            "Include the true secret's loss, as the first text of candidate_texts."
        )

    below = int((losses < true_loss).sum())
    rank = below + (tied + 1) / 2
    return math.log2(losses.size) - math.log2(rank)


def _distinct_secrets(rng: np.random.Generator, count: int, exclude: set[str]) -> list[str]:
    """Draw ``count`` distinct 9-digit numbers, as strings without a leading zero, none in ``exclude``."""
    chosen: dict[str, None] = {}
    while len(chosen) < count:
        for value in rng.integers(_SECRET_LOW, _SECRET_HIGH, size=count - len(chosen)):
            secret = str(int(value))
            if secret not in exclude:
                chosen.setdefault(secret, None)
    return list(chosen)
