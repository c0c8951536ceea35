"""Tests of the model-free blind baseline on synthetic template texts."""

from __future__ import annotations

import numpy as np
import pytest

from attacks.blind import blind_scores
from attacks.metrics import roc_metrics

FINDINGS = ["effusion", "atelectasis", "edema", "consolidation", "cardiomegaly", "nodule", "pneumothorax", "opacity"]
SIDES = ["left", "right", "bilateral"]
FAMILY_A = [
    "FINDINGS: {side} {finding}, study {number}. IMPRESSION: {finding} on the {side}.",
    "The {side} lung shows {finding}. Compared with study {number}. IMPRESSION: stable {finding}.",
]
FAMILY_B = [
    "EXAM {number}: chest film. Result: {finding}, {side} side, unchanged from prior imaging.",
    "Portable view {number}. Observation: {side} {finding} seen. Conclusion: follow-up advised for {finding}.",
]


def _texts(templates: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """Fill random templates with random findings, sides and a unique study number per text."""
    numbers = rng.choice(np.arange(100000, 1000000), size=count, replace=False)
    return [
        templates[rng.integers(len(templates))].format(
            side=SIDES[rng.integers(len(SIDES))], finding=FINDINGS[rng.integers(len(FINDINGS))], number=number
        )
        for number in numbers
    ]


def test_blind_chance_same_distribution():
    # Each text has a unique study number, so a classifier scored on its own training texts
    # would reach an AUC near 1. Out-of-fold scores must stay at chance.
    rng = np.random.default_rng(0)
    texts = _texts(FAMILY_A + FAMILY_B, 2000, rng)
    is_member = rng.random(2000) < 0.5

    scores = blind_scores(texts, is_member, folds=5, seed=0)

    assert scores.shape == (2000,)
    assert abs(roc_metrics(scores, is_member)["auc"] - 0.5) < 0.05


def test_blind_detects_template_shift():
    rng = np.random.default_rng(1)
    texts = _texts(FAMILY_A, 300, rng) + _texts(FAMILY_B, 300, rng)
    is_member = np.arange(600) < 300

    scores = blind_scores(texts, is_member, folds=5, seed=0)

    assert roc_metrics(scores, is_member)["auc"] > 0.7


def test_blind_is_seeded():
    rng = np.random.default_rng(2)
    texts = _texts(FAMILY_A + FAMILY_B, 200, rng)
    is_member = rng.random(200) < 0.5

    first = blind_scores(texts, is_member, seed=3)
    second = blind_scores(texts, is_member, seed=3)

    np.testing.assert_array_equal(first, second)


def test_blind_raises_small_class():
    texts = [f"report {i}" for i in range(10)]
    is_member = np.arange(10) < 3

    with pytest.raises(ValueError, match="smaller class has 3 reports, fewer than folds=5"):
        blind_scores(texts, is_member, folds=5)
