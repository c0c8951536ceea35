"""Tests of the membership attacks and of their ROC metrics.

privacy_meter (1.0.1) serves as an independent check of the ROC metrics. Only its
``metric_result`` and ``hypothesis_test`` modules import without TensorFlow, and its
``threshold_func`` fails on numpy 2 (it passes the removed ``interpolation`` argument to
``np.quantile``), so the quantile check uses ``linear_itp_threshold_func``.
"""

from __future__ import annotations

import numpy as np
import pytest
from privacy_meter.hypothesis_test import linear_itp_threshold_func
from privacy_meter.metric_result import CombinedMetricResult, MetricResult

from attacks import AuditSignals, run_attack
from attacks.metrics import bootstrap_roc, roc_metrics, tpr_at_fpr


def _logits_for_losses(losses: np.ndarray) -> np.ndarray:
    """Return logits [..., 1] whose BCE against label 1 equals ``losses`` [...] (in nats, > 0)."""
    # BCE of logit x against label 1 is log(1 + exp(-x)), so x = -log(exp(loss) - 1).
    return (-np.log(np.expm1(losses)))[..., np.newaxis]


def _signals_from_losses(
    target_losses: np.ndarray,
    is_member: np.ndarray,
    reference_losses: np.ndarray | None = None,
    reference_in: np.ndarray | None = None,
) -> AuditSignals:
    n = target_losses.size
    return AuditSignals(
        target_logits=_logits_for_losses(target_losses),
        labels=np.ones((n, 1)),
        mask=np.ones((n, 1)),
        is_member=is_member,
        reference_logits=None if reference_losses is None else _logits_for_losses(reference_losses),
        reference_in=reference_in,
    )


def _difficulty_signals(n: int, *, member_factor: float, seed: int) -> AuditSignals:
    """Build signals where per-report difficulty varies widely and is shared by all models.

    Each report has a base loss from a log-normal with sigma 1. A model that trained on the
    report multiplies that loss by ``member_factor``, and every model adds 10% log-normal noise.
    Eight references form four complementary pairs, so every report is OUT for four of them.
    """
    rng = np.random.default_rng(seed)
    base_loss = rng.lognormal(mean=-0.5, sigma=1.0, size=n)
    is_member = rng.random(n) < 0.5
    halves = rng.random((4, n)) < 0.5
    reference_in = np.empty((8, n), dtype=bool)
    reference_in[0::2] = halves
    reference_in[1::2] = ~halves

    def model_losses(trained: np.ndarray) -> np.ndarray:
        noise = np.exp(rng.normal(0.0, 0.1, size=trained.shape))
        return base_loss * noise * np.where(trained, member_factor, 1.0)

    target_losses = model_losses(is_member)
    reference_losses = np.stack([model_losses(row) for row in reference_in])
    return _signals_from_losses(target_losses, is_member, reference_losses, reference_in)


def test_loss_attack_perfect_separation():
    rng = np.random.default_rng(0)
    is_member = np.arange(400) < 200
    losses = np.where(is_member, rng.uniform(0.01, 0.5, 400), rng.uniform(0.6, 3.0, 400))

    scores = run_attack("loss", _signals_from_losses(losses, is_member))

    assert roc_metrics(scores, is_member)["auc"] == 1.0


def test_loss_attack_chance_same_distribution():
    rng = np.random.default_rng(1)
    is_member = rng.random(4000) < 0.5
    losses = rng.lognormal(mean=-0.5, sigma=0.8, size=4000)

    scores = run_attack("loss", _signals_from_losses(losses, is_member))

    assert abs(roc_metrics(scores, is_member)["auc"] - 0.5) < 0.05


def test_loss_attack_unmasked_fallback():
    # The second report has every label masked, so its score is the negative unmasked BCE.
    logits = np.array([[3.0, -2.0], [1.0, -1.0]])
    signals = AuditSignals(
        target_logits=logits,
        labels=np.array([[1.0, 0.0], [1.0, 1.0]]),
        mask=np.array([[1.0, 0.0], [0.0, 0.0]]),
        is_member=np.array([True, False]),
    )
    expected_second = -(np.log1p(np.exp(-1.0)) + np.log1p(np.exp(1.0))) / 2

    scores = run_attack("loss", signals)

    assert scores[0] == pytest.approx(-np.log1p(np.exp(-3.0)))
    assert scores[1] == pytest.approx(expected_second)


def test_reference_beats_loss_varied_difficulty():
    signals = _difficulty_signals(2000, member_factor=0.6, seed=2)

    loss_auc = roc_metrics(run_attack("loss", signals), signals.is_member)["auc"]
    reference_auc = roc_metrics(run_attack("reference", signals), signals.is_member)["auc"]

    assert reference_auc > loss_auc + 0.2
    assert reference_auc > 0.9


def test_scaled_reference_beats_loss():
    from attacks.reference import reference_attack

    signals = _difficulty_signals(2000, member_factor=0.6, seed=3)

    loss_auc = roc_metrics(run_attack("loss", signals), signals.is_member)["auc"]
    scaled_auc = roc_metrics(reference_attack(signals, scale=True), signals.is_member)["auc"]

    assert scaled_auc > loss_auc + 0.2


def test_reference_ignores_in_references():
    # IN references have a tiny loss, so counting them would lower every score.
    target_losses = np.array([0.4, 0.9, 0.2])
    reference_in = np.array([[True, False, False], [False, True, False], [False, False, True], [False, False, False]])
    reference_losses = np.where(reference_in, 0.001, np.array([[0.5], [0.7], [0.6], [1.1]]))
    signals = _signals_from_losses(target_losses, np.array([True, False, True]), reference_losses, reference_in)
    expected = np.array([(0.7 + 0.6 + 1.1) / 3 - 0.4, (0.5 + 0.6 + 1.1) / 3 - 0.9, (0.5 + 0.7 + 1.1) / 3 - 0.2])

    scores = run_attack("reference", signals)

    np.testing.assert_allclose(scores, expected, rtol=1e-9)


def test_reference_scale_divides_by_std():
    from attacks.reference import reference_attack

    target_losses = np.array([0.4, 0.5])
    reference_in = np.array([[False, True], [False, False], [False, False]])
    reference_losses = np.array([[0.5, 0.3], [0.7, 0.6], [0.9, 1.2]])
    signals = _signals_from_losses(target_losses, np.array([True, False]), reference_losses, reference_in)
    first_out = np.array([0.5, 0.7, 0.9])
    second_out = np.array([0.6, 1.2])
    expected = np.array([
        (first_out.mean() - 0.4) / (first_out.std(ddof=1) + 1e-3),
        (second_out.mean() - 0.5) / (second_out.std(ddof=1) + 1e-3),
    ])

    scores = reference_attack(signals, scale=True)

    np.testing.assert_allclose(scores, expected, rtol=1e-9)


def test_reference_scale_warns_single_out():
    from attacks.reference import reference_attack

    reference_in = np.array([[True, False], [False, True]])
    signals = _signals_from_losses(np.array([0.4, 0.5]), np.array([True, False]), np.full((2, 2), 0.6), reference_in)

    with pytest.warns(UserWarning, match="2 of 2 reports have one OUT reference"):
        scores = reference_attack(signals, scale=True)

    np.testing.assert_allclose(scores, [0.2, 0.1], rtol=1e-9)


def test_reference_chance_without_membership():
    signals = _difficulty_signals(4000, member_factor=1.0, seed=4)

    scores = run_attack("reference", signals)

    assert abs(roc_metrics(scores, signals.is_member)["auc"] - 0.5) < 0.05


def test_reference_raises_without_out_reference():
    signals = _difficulty_signals(100, member_factor=0.6, seed=5)
    reference_in = signals.reference_in.copy()
    reference_in[:, [3, 7]] = True
    broken = _signals_from_losses(
        np.full(100, 0.5), signals.is_member, np.full((8, 100), 0.5), reference_in
    )

    with pytest.raises(ValueError, match="2 of 100 reports have no OUT reference"):
        run_attack("reference", broken)


def test_reference_raises_without_references():
    signals = _signals_from_losses(np.full(10, 0.5), np.arange(10) < 5)

    with pytest.raises(ValueError, match="reference_models >= 2"):
        run_attack("reference", signals)


@pytest.mark.parametrize("attack", ["loss", "reference"])
def test_scores_are_float_vector(attack):
    signals = _difficulty_signals(50, member_factor=0.6, seed=6)

    scores = run_attack(attack, signals)

    assert scores.shape == (50,)
    assert scores.dtype == np.float64
    assert np.isfinite(scores).all()


def test_tpr_low_fpr_top_non_member():
    # With 500 non-members one false positive is already an FPR of 0.2%, above the 0.1% target.
    rng = np.random.default_rng(7)
    is_member = np.arange(1000) < 500
    scores = rng.uniform(0.0, 1.0, 1000) + 0.5 * is_member
    scores[500] = 5.0  # A non-member outranks every member.

    result = roc_metrics(scores, is_member)

    assert result["tpr_at_0.1pct_fpr"] == 0.0
    assert result["tpr_at_0pct_fpr"] == 0.0


def test_tpr_low_fpr_perfect_separation():
    is_member = np.arange(600) < 300
    scores = np.where(is_member, 2.0, 1.0) + np.linspace(0.0, 0.5, 600)

    result = roc_metrics(scores, is_member)

    assert result["tpr_at_0.1pct_fpr"] == 1.0
    assert result["tpr_at_1pct_fpr"] == 1.0
    assert result["auc"] == 1.0


def _random_attack(seed: int, n_members: int = 2500, n_non_members: int = 2500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_member = np.concatenate([np.ones(n_members, dtype=bool), np.zeros(n_non_members, dtype=bool)])
    scores = rng.normal(0.0, 1.0, is_member.size) + 0.8 * is_member
    return scores, is_member


def _privacy_meter_sweep(scores: np.ndarray, is_member: np.ndarray) -> CombinedMetricResult:
    """Count the confusion matrix of "member if score >= t" at every distinct score, plus above the maximum."""
    thresholds = np.append(np.unique(scores), np.inf)
    predicted = scores[np.newaxis, :] >= thresholds[:, np.newaxis]
    return CombinedMetricResult(
        metric_id="sweep", predicted_labels=predicted, true_labels=is_member.astype(int)
    )


def test_roc_auc_matches_privacy_meter():
    scores, is_member = _random_attack(seed=8)
    scores = np.round(scores, 1)  # Ties, so that the trapezoid rule matters.

    result = roc_metrics(scores, is_member)
    single = MetricResult(
        metric_id="loss", predicted_labels=scores > 0.4, true_labels=is_member, predictions_proba=scores
    )
    sweep = _privacy_meter_sweep(scores, is_member)

    assert abs(result["auc"] - single.roc_auc) < 1e-6
    assert abs(result["auc"] - sweep.roc_auc) < 1e-6


def _point_set(fpr, tpr) -> set[tuple[float, float]]:
    return {(round(float(x), 12), round(float(y), 12)) for x, y in zip(fpr, tpr)}


def test_roc_curve_matches_privacy_meter():
    scores, is_member = _random_attack(seed=9)
    scores = np.round(scores, 2)

    result = roc_metrics(scores, is_member)
    single = MetricResult(
        metric_id="loss", predicted_labels=scores > 0.4, true_labels=is_member, predictions_proba=scores
    )
    reference_fpr, reference_tpr, _ = single.roc

    # privacy_meter keeps sklearn's default of dropping collinear points, so its points are a subset of ours.
    assert _point_set(reference_fpr, reference_tpr) <= _point_set(result["fpr"], result["tpr"])
    assert len(result["fpr"]) == np.unique(scores).size + 1


@pytest.mark.parametrize("target", [0.01, 0.001])
def test_tpr_at_fpr_matches_privacy_meter(target):
    scores, is_member = _random_attack(seed=10, n_members=3000, n_non_members=4000)
    sweep = _privacy_meter_sweep(scores, is_member)
    sweep_fpr = sweep.fp / (~is_member).sum()
    sweep_tpr = sweep.tp / is_member.sum()
    expected = sweep_tpr[sweep_fpr <= target].max()

    result = roc_metrics(scores, is_member)

    assert result[f"tpr_at_{100 * target:g}pct_fpr"] == pytest.approx(expected, abs=1e-12)


def test_quantile_thresholds_match_privacy_meter():
    # privacy_meter sets a threshold at each (1 - alpha) quantile of the non-member scores and
    # predicts "member" above it. Each such operating point must lie on our ROC curve, and our
    # TPR at its FPR, a maximum over the curve, can only be higher.
    scores, is_member = _random_attack(seed=11)
    alphas = np.array([0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0])
    thresholds = linear_itp_threshold_func(scores[~is_member], alphas)
    predicted = scores[np.newaxis, :] > thresholds[:, np.newaxis]
    combined = CombinedMetricResult(metric_id="quantile", predicted_labels=predicted, true_labels=is_member.astype(int))
    meter_fpr = combined.fp / (~is_member).sum()
    meter_tpr = combined.tp / is_member.sum()

    result = roc_metrics(scores, is_member)
    ours = np.array([tpr_at_fpr(result["fpr"], result["tpr"], fpr) for fpr in meter_fpr])

    assert _point_set(meter_fpr, meter_tpr) <= _point_set(result["fpr"], result["tpr"])
    assert np.all(ours >= meter_tpr)


def test_roc_metrics_raises_on_one_class():
    with pytest.raises(ValueError, match="got 0 members and 5 non-members"):
        roc_metrics(np.arange(5.0), np.zeros(5, dtype=bool))


def test_bootstrap_roc_contains_point():
    scores, is_member = _random_attack(seed=12, n_members=500, n_non_members=500)

    point = roc_metrics(scores, is_member)
    intervals = bootstrap_roc(scores, is_member, n=100, seed=1)

    assert intervals["auc"][0] < point["auc"] < intervals["auc"][1]
    assert intervals["tpr_at_1pct_fpr"][0] <= point["tpr_at_1pct_fpr"] <= intervals["tpr_at_1pct_fpr"][1]
    assert intervals["tpr_at_0.1pct_fpr"][0] <= intervals["tpr_at_0.1pct_fpr"][1]


def test_bootstrap_roc_is_seeded():
    scores, is_member = _random_attack(seed=13, n_members=300, n_non_members=300)

    first = bootstrap_roc(scores, is_member, n=50, seed=4)
    second = bootstrap_roc(scores, is_member, n=50, seed=4)
    other = bootstrap_roc(scores, is_member, n=50, seed=5)

    assert first == second
    assert first["auc"] != other["auc"]
