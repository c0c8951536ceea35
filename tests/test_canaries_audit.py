"""Tests of canaries and exposure, of the one-run and ROC epsilon lower bounds, and of per-label slices."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from attacks.canaries import SECRET_DIGITS, UNSTATED_FINDINGS, candidate_texts, exposure, make_canaries
from attacks.empirical import empirical_epsilon_from_roc
from attacks.metrics import roc_metrics
from attacks.one_run import (
    best_one_run_epsilon,
    epsilon_lower_bound,
    one_run_epsilon_lower_bound,
    one_run_p_value,
)
from attacks.slices import per_label_slices

LABEL_NAMES = ("Effusion", "Cardiomegaly", "Edema", "Pneumothorax")


def _randomized_response(m: int, epsilon: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return scores [m] and inclusion [m] of epsilon-DP randomized response.

    Each canary is included with probability 1/2. The mechanism reports the inclusion bit
    correctly with probability e^eps / (1 + e^eps), and the score is that report plus a small
    noise that only orders canaries within each reported value.
    """
    rng = np.random.default_rng(seed)
    included = rng.random(m) < 0.5
    truthful = rng.random(m) < math.exp(epsilon) / (1.0 + math.exp(epsilon))
    reported = np.where(truthful, included, ~included)
    return reported + rng.uniform(0.0, 0.1, size=m), included


# Canaries and exposure.


def test_exposure_lowest_loss_is_log2_n():
    losses = np.linspace(1.0, 2.0, 1000)

    assert exposure(losses[0], losses) == pytest.approx(math.log2(1000))


def test_exposure_middle_rank_one_bit():
    losses = np.arange(1000, dtype=float)

    # 499 candidates have a lower loss, so the rank is 500 of 1000.
    assert exposure(499.0, losses) == pytest.approx(1.0)


def test_exposure_ties_share_average_rank():
    losses = np.array([0.5, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0])

    # One lower loss and three tied (ranks 2, 3, 4): average rank 3.
    assert exposure(1.0, losses) == pytest.approx(math.log2(8) - math.log2(3))


def test_exposure_raises_missing_true_loss():
    with pytest.raises(ValueError, match="not among the 3 candidate losses"):
        exposure(0.7, np.array([0.1, 0.2, 0.3]))


def test_candidate_texts_differ_only_secret():
    canary = make_canaries(3, label_names=LABEL_NAMES, seed=1)[2]
    start = canary.text.index(canary.secret)
    prefix, suffix = canary.text[:start], canary.text[start + SECRET_DIGITS :]

    texts = candidate_texts(canary, candidates=200, seed=5)
    secrets = [text[start : start + SECRET_DIGITS] for text in texts]

    assert len(texts) == 200
    assert texts[0] == canary.text
    assert all(text.startswith(prefix) and text.endswith(suffix) for text in texts)
    assert all(len(text) == len(canary.text) for text in texts)
    assert all(re.fullmatch(r"[1-9][0-9]{8}", secret) for secret in secrets)
    assert len(set(secrets)) == 200


def test_make_canaries_same_seed_same():
    first = make_canaries(6, label_names=LABEL_NAMES, seed=3)
    second = make_canaries(6, label_names=LABEL_NAMES, seed=3)
    other = make_canaries(6, label_names=LABEL_NAMES, seed=4)

    assert [c.text for c in first] == [c.text for c in second]
    assert [c.secret for c in first] != [c.secret for c in other]


def test_make_canaries_repeats_and_labels():
    canaries = make_canaries(7, repeats=(1, 4, 16), label_names=LABEL_NAMES, seed=0)

    assert [c.repeats for c in canaries] == [1, 4, 16, 1, 4, 16, 1]
    assert len({c.secret for c in canaries}) == 7
    assert len({c.id for c in canaries}) == 7
    np.testing.assert_array_equal(canaries[0].labels, [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(canaries[0].mask, np.ones(4))
    assert "Effusion, Edema reported" in canaries[0].text


def test_make_canaries_random_labels_unnamed():
    fixed = make_canaries(40, label_names=LABEL_NAMES, seed=2)
    drawn = make_canaries(40, label_names=LABEL_NAMES, seed=2, random_labels=True)
    patterns = np.stack([c.labels for c in drawn])

    assert [c.secret for c in drawn] == [c.secret for c in fixed]
    assert len({tuple(row) for row in patterns}) > 4
    assert 0.3 < patterns.mean() < 0.7
    assert all(UNSTATED_FINDINGS in c.text for c in drawn)
    for canary in drawn:
        for name in LABEL_NAMES:
            assert name not in canary.text, canary.id
    texts_without_secret = {c.text.replace(c.secret, "") for c in drawn}
    assert len(texts_without_secret) == 1


def test_make_canaries_random_labels_seeded():
    first = make_canaries(10, label_names=LABEL_NAMES, seed=3, random_labels=True)
    second = make_canaries(10, label_names=LABEL_NAMES, seed=3, random_labels=True)
    other = make_canaries(10, label_names=LABEL_NAMES, seed=4, random_labels=True)

    np.testing.assert_array_equal(np.stack([c.labels for c in first]), np.stack([c.labels for c in second]))
    assert not np.array_equal(np.stack([c.labels for c in first]), np.stack([c.labels for c in other]))


# One-run audit.


def test_one_run_closed_form_all_correct():
    # With delta = 0 and all r = m guesses correct, the p-value is q^m, so the bound solves q^m = 0.05.
    m = 200
    q = 0.05 ** (1.0 / m)
    expected = math.log(q / (1.0 - q))

    bound = epsilon_lower_bound(m=m, guesses=m, correct=m, delta=0.0, confidence=0.95)

    assert bound == pytest.approx(expected, abs=1e-6)


def test_one_run_bound_is_rejection_edge():
    bound = epsilon_lower_bound(m=1000, guesses=300, correct=220, delta=1e-5, confidence=0.95)

    assert one_run_p_value(m=1000, guesses=300, correct=220, epsilon=bound, delta=1e-5) <= 0.05
    assert one_run_p_value(m=1000, guesses=300, correct=220, epsilon=bound + 1e-4, delta=1e-5) > 0.05


def test_one_run_delta_lowers_bound():
    scores, included = _randomized_response(1000, epsilon=3.0, seed=0)

    pure = one_run_epsilon_lower_bound(scores, included, guesses_positive=200, guesses_negative=200, delta=0.0)
    approximate = one_run_epsilon_lower_bound(scores, included, guesses_positive=200, guesses_negative=200, delta=1e-4)

    assert approximate < pure


def test_one_run_randomized_response_below_epsilon():
    epsilon = 2.0
    exceeded = 0
    for seed in range(40):
        scores, included = _randomized_response(1000, epsilon=epsilon, seed=seed)
        bound = one_run_epsilon_lower_bound(scores, included, guesses_positive=250, guesses_negative=250, delta=0.0)
        exceeded += bound > epsilon

    # At 95% confidence about 2 of 40 may exceed; 4 allows for sampling noise.
    assert exceeded <= 4


def test_one_run_randomized_response_is_tight():
    scores, included = _randomized_response(1000, epsilon=2.0, seed=100)

    bound = one_run_epsilon_lower_bound(scores, included, guesses_positive=250, guesses_negative=250, delta=0.0)

    assert bound > 1.0


def test_one_run_perfect_separation_high():
    rng = np.random.default_rng(1)
    included = rng.random(1000) < 0.5
    separated = included + rng.uniform(0.0, 0.5, size=1000)
    noisy_scores, noisy_included = _randomized_response(1000, epsilon=1.0, seed=2)

    perfect = best_one_run_epsilon(separated, included, delta=1e-5)
    noisy = best_one_run_epsilon(noisy_scores, noisy_included, delta=1e-5)

    assert perfect["epsilon"] > noisy["epsilon"] + 2.0
    assert noisy["epsilon"] < 1.0


def test_best_one_run_bonferroni_confidence():
    scores, included = _randomized_response(500, epsilon=2.0, seed=3)
    ks = [(50, 50), (100, 100), (100, 0), (200, 200)]

    best = best_one_run_epsilon(scores, included, delta=0.0, ks=ks)
    single = one_run_epsilon_lower_bound(
        scores,
        included,
        guesses_positive=best["guesses_positive"],
        guesses_negative=best["guesses_negative"],
        delta=0.0,
        confidence=1 - 0.05 / 4,
    )

    assert best["tried"] == 4
    assert best["confidence_per_try"] == pytest.approx(1 - 0.05 / 4)
    assert best["epsilon"] == pytest.approx(single)


def test_one_run_raises_too_many_guesses():
    with pytest.raises(ValueError, match="Use a total in \\[1, 10\\]"):
        one_run_epsilon_lower_bound(
            np.arange(10.0), np.arange(10) < 5, guesses_positive=6, guesses_negative=6, delta=0.0
        )


# Empirical epsilon from the ROC curve.


def test_roc_epsilon_below_randomized_response():
    scores, is_member = _randomized_response(10000, epsilon=1.0, seed=4)
    binary_scores = np.round(scores)

    result = empirical_epsilon_from_roc(binary_scores, is_member, delta=0.0)

    assert result["epsilon"] <= 1.0
    assert result["epsilon"] > 0.7


def test_roc_epsilon_zero_same_distribution():
    rng = np.random.default_rng(5)
    is_member = rng.random(4000) < 0.5
    scores = rng.normal(size=4000)

    result = empirical_epsilon_from_roc(scores, is_member, delta=1e-5)

    assert result["epsilon"] < 0.05


def test_roc_epsilon_large_perfect_separation():
    is_member = np.arange(10000) < 5000
    scores = is_member + np.linspace(0.0, 0.5, 10000)

    result = empirical_epsilon_from_roc(scores, is_member, delta=0.0)

    assert result["epsilon"] > 5.0
    assert result["threshold"] == pytest.approx(1.0)
    assert result["tpr"] == 1.0
    assert result["fpr"] == 0.0


def test_roc_epsilon_bonferroni_is_lower():
    scores, is_member = _randomized_response(4000, epsilon=2.0, seed=6)

    corrected = empirical_epsilon_from_roc(scores, is_member, delta=0.0, bonferroni=True)
    uncorrected = empirical_epsilon_from_roc(scores, is_member, delta=0.0, bonferroni=False)

    assert corrected["epsilon"] < uncorrected["epsilon"]
    assert corrected["thresholds_tested"] == uncorrected["thresholds_tested"]


# Per-label slices.


def _slice_data(seed: int):
    rng = np.random.default_rng(seed)
    n = 400
    is_member = rng.random(n) < 0.5
    scores = rng.normal(size=n) + 0.7 * is_member
    labels = (rng.random((n, 3)) < 0.4).astype(float)
    mask = (rng.random((n, 3)) < 0.9).astype(float)
    # Label 2 is positive for only 3 members.
    members = np.flatnonzero(is_member)
    labels[:, 2] = 0.0
    labels[members[:3], 2] = 1.0
    labels[np.flatnonzero(~is_member)[:20], 2] = 1.0
    mask[:, 2] = 1.0
    return scores, is_member, labels, mask


def test_slice_excluded_few_members():
    scores, is_member, labels, mask = _slice_data(seed=7)

    slices = per_label_slices(scores, is_member, labels, mask, ["A", "B", "C"], min_members=5)

    assert set(slices["C"]) == {"excluded"}
    assert "3 members and 20 non-members" in slices["C"]["excluded"]
    assert "at least 5" in slices["C"]["excluded"]


def test_slice_auc_equals_manual_subset():
    scores, is_member, labels, mask = _slice_data(seed=8)

    slices = per_label_slices(scores, is_member, labels, mask, ["A", "B", "C"])

    for column, name in enumerate(["A", "B"]):
        subset = (labels[:, column] == 1) & (mask[:, column] == 1)
        expected = roc_metrics(scores[subset], is_member[subset])
        assert slices[name]["auc"] == expected["auc"], name
        assert slices[name]["tpr_at_1pct_fpr"] == expected["tpr_at_1pct_fpr"], name
        assert slices[name]["n_members"] == int((subset & is_member).sum()), name
        assert "fpr" not in slices[name], name
        assert "tpr" not in slices[name], name
