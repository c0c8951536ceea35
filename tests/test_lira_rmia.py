"""Tests of the per-report signals and of the LiRA and RMIA attacks.

Formula tests compare the vectorised attacks with slow per-report loops in plain Python kept
in this file. privacy_meter (1.0.1) serves as an independent check of the ROC metrics of the
new attacks. Only its ``metric_result`` and ``hypothesis_test`` modules import without
TensorFlow, and its ``threshold_func`` fails on numpy 2 (it passes the removed
``interpolation`` argument to ``np.quantile``), so these tests use ``MetricResult`` and
``CombinedMetricResult`` only.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import numpy as np
import pytest
from privacy_meter.metric_result import CombinedMetricResult, MetricResult
from scipy.stats import norm

import attacks.extra  # noqa: F401  Registers lira-offline, lira-online and rmia.
from attacks import AuditSignals, run_attack
from attacks.lira import lira_offline, lira_online
from attacks.metrics import roc_metrics
from attacks.rmia import rmia
from attacks.signals import label_confidence_logits, per_label_signals, true_label_probability

REFERENCE_ATTACKS = ["lira-offline", "lira-online", "rmia"]


def _gaussian_signals(n: int, *, references: int, shift: float, seed: int, paired: bool = True) -> AuditSignals:
    """Build signals whose true-label logits are Gaussian with known per-report parameters.

    Report i has a difficulty d_i ~ N(0, 2^2) shared by every model. A model's logit in the
    true value of each label is d_i + shift (when it trained on report i) + N(0, 0.5^2) noise.
    Labels are random, one cell in five is masked, and report 0 has every label masked. With
    ``paired=True`` references come in complementary pairs, so each report is OUT for half of them.
    """
    rng = np.random.default_rng(seed)
    num_labels = 3
    difficulty = rng.normal(0.0, 2.0, size=n)
    labels = (rng.random((n, num_labels)) < 0.4).astype(np.float64)
    mask = (rng.random((n, num_labels)) < 0.8).astype(np.float64)
    mask[0] = 0.0
    is_member = rng.random(n) < 0.5
    if paired:
        halves = rng.random(((references + 1) // 2, n)) < 0.5
        reference_in = np.empty((2 * halves.shape[0], n), dtype=bool)
        reference_in[0::2] = halves
        reference_in[1::2] = ~halves
        reference_in = reference_in[:references]
    else:
        reference_in = rng.random((references, n)) < 0.5

    def model_logits(trained: np.ndarray) -> np.ndarray:
        confidence = difficulty[:, None] + shift * trained[:, None] + rng.normal(0.0, 0.5, size=(n, num_labels))
        return np.where(labels == 1, confidence, -confidence)

    return AuditSignals(
        target_logits=model_logits(is_member),
        labels=labels,
        mask=mask,
        is_member=is_member,
        reference_logits=np.stack([model_logits(row) for row in reference_in]),
        reference_in=reference_in,
    )


def _slow_phi(logits, labels, mask) -> list[float]:
    """Mean signed logit over scored labels, over all labels when none is scored; one float per report."""
    values = []
    for row_logits, row_labels, row_mask in zip(logits.tolist(), labels.tolist(), mask.tolist()):
        cells = [(x, y) for x, y, scored in zip(row_logits, row_labels, row_mask) if scored == 1]
        if not cells:
            cells = list(zip(row_logits, row_labels))
        signed = [x if y == 1 else -x for x, y in cells]
        values.append(sum(signed) / len(signed))
    return values


def _slow_log_probability(logits, labels, mask) -> list[float]:
    """Mean log p_true over scored labels (over all labels when none is scored); one float per report."""
    values = []
    for row_logits, row_labels, row_mask in zip(logits.tolist(), labels.tolist(), mask.tolist()):
        cells = [(x, y) for x, y, scored in zip(row_logits, row_labels, row_mask) if scored == 1]
        if not cells:
            cells = list(zip(row_logits, row_labels))
        logs = [-math.log1p(math.exp(-(x if y == 1 else -x))) for x, y in cells]
        values.append(sum(logs) / len(logs))
    return values


def _slow_gaussians(signals: AuditSignals, side_in: bool, variance: str, min_std: float = 1e-3):
    """Per-report means and stds of the reference signals on one side, by plain loops."""
    n = signals.is_member.size
    per_model = [_slow_phi(logits, signals.labels, signals.mask) for logits in signals.reference_logits]
    groups = []
    for i in range(n):
        groups.append([per_model[k][i] for k in range(len(per_model)) if bool(signals.reference_in[k, i]) == side_in])
    means = [statistics.fmean(group) for group in groups]
    if variance == "per_example":
        stds = [statistics.stdev(group) for group in groups]
    else:
        squares = sum((value - mean) ** 2 for group, mean in zip(groups, means) for value in group)
        freedom = sum(len(group) - 1 for group in groups)
        stds = [math.sqrt(squares / freedom)] * n
    return means, [max(std, min_std) for std in stds]


def _sweep(scores: np.ndarray, is_member: np.ndarray) -> CombinedMetricResult:
    """privacy_meter's confusion matrices of "member if score >= t" at every distinct score and above the maximum."""
    thresholds = np.append(np.unique(scores), np.inf)
    predicted = scores[np.newaxis, :] >= thresholds[:, np.newaxis]
    return CombinedMetricResult(metric_id="sweep", predicted_labels=predicted, true_labels=is_member.astype(int))


def test_per_label_signals_sign_and_mask():
    logits = np.array([[2.0, -1.5, 0.5], [0.3, 4.0, -2.0]])
    labels = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    mask = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])

    values = per_label_signals(logits, labels, mask)

    np.testing.assert_array_equal(values[0, :2], [2.0, 1.5])
    np.testing.assert_array_equal(values[1, [0, 2]], [-0.3, -2.0])
    assert np.isnan(values[0, 2])
    assert np.isnan(values[1, 1])


def test_label_confidence_equals_log_odds():
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, size=(50, 4))
    labels = (rng.random((50, 4)) < 0.5).astype(float)
    mask = (rng.random((50, 4)) < 0.7).astype(float)
    mask[3] = 0.0
    probability = 1.0 / (1.0 + np.exp(-logits))
    p_true = np.where(labels == 1, probability, 1.0 - probability)
    log_odds = np.log(p_true / (1.0 - p_true))
    weights = np.where(mask.sum(axis=1, keepdims=True) == 0, 1.0, mask)
    expected = (log_odds * weights).sum(axis=1) / weights.sum(axis=1)

    values = label_confidence_logits(logits, labels, mask)

    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(values, _slow_phi(logits, labels, mask), rtol=1e-12)


def test_true_label_probability_geometric_mean():
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 3.0, size=(40, 3))
    labels = (rng.random((40, 3)) < 0.5).astype(float)
    mask = (rng.random((40, 3)) < 0.7).astype(float)
    mask[5] = 0.0

    values = true_label_probability(logits, labels, mask)

    np.testing.assert_allclose(values, np.exp(_slow_log_probability(logits, labels, mask)), rtol=1e-10)


@pytest.mark.parametrize("variance", ["per_example", "global"])
def test_lira_offline_matches_slow_loop(variance):
    signals = _gaussian_signals(120, references=6, shift=0.8, seed=2)
    target = _slow_phi(signals.target_logits, signals.labels, signals.mask)
    means, stds = _slow_gaussians(signals, side_in=False, variance=variance)
    expected = [(phi - mean) / std for phi, mean, std in zip(target, means, stds)]

    scores = lira_offline(signals, variance=variance)

    np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-12)


def test_lira_offline_keeps_far_tail_distinct():
    # A target far more confident than every OUT reference puts z beyond 38, where
    # log Phi(z) rounds to 0 and every report would tie.
    signals = _gaussian_signals(60, references=4, shift=0.0, seed=5)
    boosted = replace(signals, target_logits=signals.target_logits + np.where(signals.labels > 0, 1.0, -1.0) * 500.0)

    scores = lira_offline(boosted)
    target = _slow_phi(boosted.target_logits, boosted.labels, boosted.mask)
    means, stds = _slow_gaussians(boosted, side_in=False, variance="global")
    expected = (np.asarray(target) - means) / stds

    assert np.all(scores > 38.0)
    assert np.all(norm.logcdf(expected) == 0.0), "the case must be one where log Phi(z) ties"
    assert len(np.unique(scores)) == len(scores)
    np.testing.assert_array_equal(np.argsort(scores), np.argsort(expected))


@pytest.mark.parametrize("variance", ["per_example", "global"])
def test_lira_online_matches_slow_loop(variance):
    signals = _gaussian_signals(120, references=6, shift=0.8, seed=3)
    target = _slow_phi(signals.target_logits, signals.labels, signals.mask)
    in_means, in_stds = _slow_gaussians(signals, side_in=True, variance=variance)
    out_means, out_stds = _slow_gaussians(signals, side_in=False, variance=variance)
    expected = [
        norm.logpdf(phi, in_mean, in_std) - norm.logpdf(phi, out_mean, out_std)
        for phi, in_mean, in_std, out_mean, out_std in zip(target, in_means, in_stds, out_means, out_stds)
    ]

    scores = lira_online(signals, variance=variance)

    np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-9)


def _slow_rmia(signals: AuditSignals, population, gamma: float, a: float) -> list[float]:
    n = signals.is_member.size
    target = [math.exp(v) for v in _slow_log_probability(signals.target_logits, signals.labels, signals.mask)]
    per_model = [
        [math.exp(v) for v in _slow_log_probability(logits, signals.labels, signals.mask)]
        for logits in signals.reference_logits
    ]
    ratios = []
    for i in range(n):
        values = [per_model[k][i] for k in range(len(per_model))]
        if any(bool(signals.reference_in[k, i]) for k in range(len(per_model))):
            marginal = sum(values) / len(values)
        else:
            marginal = 0.5 * ((1 + a) * (sum(values) / len(values)) + (1 - a))
        ratios.append(target[i] / marginal)
    scores = []
    for x in range(n):
        others = [z for z in range(n) if population[z] and z != x]
        scores.append(sum(1 for z in others if ratios[x] / ratios[z] > gamma) / len(others))
    return scores


@pytest.mark.parametrize(
    ("references", "gamma", "use_population"), [(3, 1.0, False), (3, 2.0, True), (1, 0.5, False), (2, 1.0, True)]
)
def test_rmia_matches_slow_loop(references, gamma, use_population):
    # Unpaired references, so reports with only OUT, only IN and mixed references all occur.
    signals = _gaussian_signals(150, references=references, shift=0.8, seed=4, paired=False)
    population = ~signals.is_member if use_population else np.ones(150, dtype=bool)
    expected = _slow_rmia(signals, population, gamma=gamma, a=0.3)

    scores = rmia(signals, population=population if use_population else None, gamma=gamma, a=0.3)

    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)


def test_rmia_offline_interpolation_value():
    # One report, OUT for both references: Pr(x) = 0.5 * ((1 + a) * mean_out + (1 - a)).
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    signals = AuditSignals(
        target_logits=np.array([[logit(0.9)], [logit(0.6)]]),
        labels=np.ones((2, 1)),
        mask=np.ones((2, 1)),
        is_member=np.array([True, False]),
        reference_logits=np.array([[[logit(0.5)], [logit(0.7)]], [[logit(0.7)], [logit(0.7)]]]),
        reference_in=np.array([[False, True], [False, False]]),
    )
    first_ratio = 0.9 / (0.5 * (1.3 * 0.6 + 0.7))
    second_ratio = 0.6 / 0.7

    scores = rmia(signals)

    assert first_ratio > second_ratio
    np.testing.assert_array_equal(scores, [1.0, 0.0])


@pytest.mark.parametrize("attack", REFERENCE_ATTACKS)
def test_reference_attack_auc_matches_privacy_meter(attack):
    signals = _gaussian_signals(1500, references=8, shift=0.4, seed=5)

    scores = run_attack(attack, signals)
    result = roc_metrics(scores, signals.is_member)
    single = MetricResult(
        metric_id=attack,
        predicted_labels=scores > np.median(scores),
        true_labels=signals.is_member,
        predictions_proba=scores,
    )

    assert abs(result["auc"] - single.roc_auc) < 1e-6


@pytest.mark.parametrize("attack", REFERENCE_ATTACKS)
def test_reference_attack_tpr_matches_privacy_meter(attack):
    signals = _gaussian_signals(1500, references=8, shift=0.4, seed=6)
    is_member = signals.is_member

    scores = run_attack(attack, signals)
    result = roc_metrics(scores, is_member)
    sweep = _sweep(scores, is_member)
    sweep_fpr = sweep.fp / (~is_member).sum()
    sweep_tpr = sweep.tp / is_member.sum()

    assert result["tpr_at_1pct_fpr"] == pytest.approx(sweep_tpr[sweep_fpr <= 0.01].max(), abs=1e-12)
    assert abs(result["auc"] - sweep.roc_auc) < 1e-6


def test_lira_online_beats_loss_varied_difficulty():
    signals = _gaussian_signals(2000, references=8, shift=0.5, seed=7)

    loss_auc = roc_metrics(run_attack("loss", signals), signals.is_member)["auc"]
    lira_auc = roc_metrics(run_attack("lira-online", signals), signals.is_member)["auc"]

    assert lira_auc > loss_auc + 0.15
    assert lira_auc > 0.75


def test_lira_offline_beats_loss_varied_difficulty():
    signals = _gaussian_signals(2000, references=8, shift=0.5, seed=8)

    loss_auc = roc_metrics(run_attack("loss", signals), signals.is_member)["auc"]
    lira_auc = roc_metrics(run_attack("lira-offline", signals), signals.is_member)["auc"]

    assert lira_auc > loss_auc + 0.15


@pytest.mark.parametrize("references", [1, 2])
def test_rmia_few_references_beats_loss(references):
    signals = _gaussian_signals(2000, references=references, shift=0.6, seed=9)

    scores = run_attack("rmia", signals)
    loss_auc = roc_metrics(run_attack("loss", signals), signals.is_member)["auc"]
    rmia_auc = roc_metrics(scores, signals.is_member)["auc"]

    assert np.isfinite(scores).all()
    assert rmia_auc > loss_auc + 0.1


def test_attacks_chance_without_membership():
    signals = _gaussian_signals(3000, references=4, shift=0.0, seed=10)

    for attack in REFERENCE_ATTACKS:
        auc = roc_metrics(run_attack(attack, signals), signals.is_member)["auc"]
        assert abs(auc - 0.5) < 0.05, attack


def test_lira_offline_raises_without_out():
    signals = _gaussian_signals(50, references=4, shift=0.4, seed=11)
    reference_in = signals.reference_in.copy()
    reference_in[:, [2, 9, 30]] = True
    broken = AuditSignals(
        signals.target_logits, signals.labels, signals.mask, signals.is_member, signals.reference_logits, reference_in
    )

    with pytest.raises(ValueError, match="3 of 50 reports have no OUT reference"):
        lira_offline(broken)


def test_lira_online_raises_without_in():
    signals = _gaussian_signals(50, references=4, shift=0.4, seed=12)
    reference_in = signals.reference_in.copy()
    reference_in[:, [4, 5]] = False
    broken = AuditSignals(
        signals.target_logits, signals.labels, signals.mask, signals.is_member, signals.reference_logits, reference_in
    )

    with pytest.raises(ValueError, match="2 of 50 reports have no IN reference"):
        lira_online(broken)


def test_lira_per_example_raises_one_reference():
    signals = _gaussian_signals(40, references=1, shift=0.4, seed=13)
    everything_out = AuditSignals(
        signals.target_logits,
        signals.labels,
        signals.mask,
        signals.is_member,
        signals.reference_logits,
        np.zeros((1, 40), dtype=bool),
    )

    with pytest.raises(ValueError, match="needs at least 2 OUT references per report, but 40 of 40"):
        lira_offline(everything_out, variance="per_example")


def test_lira_global_raises_one_pair():
    # One complementary pair: every report has 1 IN and 1 OUT reference, so no residual exists.
    signals = _gaussian_signals(40, references=2, shift=0.4, seed=14)

    with pytest.raises(ValueError, match="reference_models >= 4"):
        run_attack("lira-offline", signals)


def test_reference_attacks_raise_without_references():
    signals = AuditSignals(np.zeros((4, 1)), np.ones((4, 1)), np.ones((4, 1)), np.array([True, False, True, False]))

    for attack in REFERENCE_ATTACKS:
        with pytest.raises(ValueError, match="reference_models >= 2"):
            run_attack(attack, signals)


def test_rmia_rejects_invalid_options():
    signals = _gaussian_signals(20, references=2, shift=0.4, seed=15)

    with pytest.raises(ValueError, match="gamma=0"):
        rmia(signals, gamma=0)
    with pytest.raises(ValueError, match="a=1.5"):
        rmia(signals, a=1.5)
    with pytest.raises(ValueError, match="population must be a bool array"):
        rmia(signals, population=np.ones(19, dtype=bool))
