"""Tests of the shared utility metrics in bench.metrics."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import f1_score

from bench.metrics import choose_thresholds, evaluate, multilabel_bce, to_json_compatible


def _random_split(seed: int, n: int = 300, n_labels: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.3).astype(np.float64)
    # Probabilities correlated with the labels, so that every metric is away from its extremes.
    probabilities = np.clip(0.35 * labels + 0.65 * rng.random((n, n_labels)), 0.0, 1.0)
    return probabilities, labels


def _names(n_labels: int) -> list[str]:
    return [f"finding_{index}" for index in range(n_labels)]


def test_weighted_f1_matches_sklearn():
    probabilities, labels = _random_split(seed=1)
    thresholds = np.full(labels.shape[1], 0.5)
    expected = f1_score(labels, probabilities >= 0.5, average="weighted")

    result = evaluate(probabilities, labels, np.ones_like(labels), thresholds, _names(5), bootstrap=0)

    assert result["weighted_f1"] == pytest.approx(expected, abs=1e-12)


def test_micro_macro_f1_match_sklearn():
    probabilities, labels = _random_split(seed=2)
    predicted = probabilities >= 0.5

    result = evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=0)

    assert result["micro_f1"] == pytest.approx(f1_score(labels, predicted, average="micro"), abs=1e-12)
    assert result["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"), abs=1e-12)


def test_label_without_positives_is_excluded():
    probabilities, labels = _random_split(seed=3)
    labels[:, 2] = 0.0
    # Predictions for the empty label would score 0 if it were averaged in.
    probabilities[:10, 2] = 0.9
    kept_columns = [0, 1, 3, 4]
    kept_labels = labels[:, kept_columns]
    kept_predicted = probabilities[:, kept_columns] >= 0.5
    expected = f1_score(kept_labels, kept_predicted, average="weighted")

    with pytest.warns(UndefinedMetricWarning, match="finding_2"):
        result = evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=0)

    assert result["excluded_labels"] == ["finding_2"]
    assert result["weighted_f1"] == pytest.approx(expected, abs=1e-12)
    assert result["macro_f1"] == pytest.approx(f1_score(kept_labels, kept_predicted, average="macro"), abs=1e-12)
    assert result["micro_f1"] == pytest.approx(f1_score(kept_labels, kept_predicted, average="micro"), abs=1e-12)
    assert result["per_label"]["finding_2"]["f1"] is None
    assert result["per_label"]["finding_2"]["recall"] is None
    assert result["per_label"]["finding_2"]["auroc"] is None
    assert result["per_label"]["finding_2"]["support"] == 0


def test_masked_positives_do_not_count():
    probabilities, labels = _random_split(seed=4)
    mask = np.ones_like(labels)
    mask[:, 1] = 1.0 - labels[:, 1]

    with pytest.warns(UndefinedMetricWarning):
        result = evaluate(probabilities, labels, mask, np.full(5, 0.5), _names(5), bootstrap=0)

    assert result["excluded_labels"] == ["finding_1"]


def test_masked_cell_changes_no_metric():
    probabilities, labels = _random_split(seed=5)
    mask = np.ones_like(labels)
    mask[::7, :] = 0.0
    changed = probabilities.copy()
    changed[::7, :] = 1.0 - changed[::7, :]
    arguments = dict(mask=mask, thresholds=np.full(5, 0.5), label_names=_names(5), bootstrap=200, seed=3)

    original = evaluate(probabilities, labels, **arguments)
    altered = evaluate(changed, labels, **arguments)

    assert altered == original


def test_masked_cells_change_metric_when_unmasked():
    # Guards the test above: the same change does move the metrics when nothing is masked.
    probabilities, labels = _random_split(seed=5)
    changed = probabilities.copy()
    changed[::7, :] = 1.0 - changed[::7, :]
    arguments = dict(mask=np.ones_like(labels), thresholds=np.full(5, 0.5), label_names=_names(5), bootstrap=0)

    original = evaluate(probabilities, labels, **arguments)
    altered = evaluate(changed, labels, **arguments)

    assert altered["weighted_f1"] != original["weighted_f1"]


def test_chosen_thresholds_beat_half():
    # Skewed toy case: positives score about 0.3 and negatives about 0.1, so 0.5 misses every positive.
    rng = np.random.default_rng(6)
    n = 400
    labels = (rng.random((n, 2)) < 0.1).astype(np.float64)
    probabilities = np.clip(np.where(labels == 1, 0.3, 0.1) + rng.normal(0.0, 0.05, size=(n, 2)), 0.0, 1.0)
    mask = np.ones_like(labels)
    test_probabilities = np.clip(np.where(labels == 1, 0.3, 0.1) + rng.normal(0.0, 0.05, size=(n, 2)), 0.0, 1.0)

    thresholds = choose_thresholds(probabilities, labels, mask)
    tuned = evaluate(test_probabilities, labels, mask, thresholds, ["a", "b"], bootstrap=0)
    with pytest.warns(UndefinedMetricWarning):
        fixed = evaluate(test_probabilities, labels, mask, np.full(2, 0.5), ["a", "b"], bootstrap=0)

    assert np.all((thresholds > 0.1) & (thresholds < 0.3))
    assert tuned["weighted_f1"] > fixed["weighted_f1"] + 0.5


def test_thresholds_tie_goes_nearest_half():
    # Perfectly separated at any threshold in (0.2, 0.8): every such candidate has F1 = 1.
    probabilities = np.array([[0.1], [0.2], [0.8], [0.9]])
    labels = np.array([[0.0], [0.0], [1.0], [1.0]])

    thresholds = choose_thresholds(probabilities, labels, np.ones_like(labels))

    assert thresholds[0] == pytest.approx(0.5)


def test_thresholds_default_without_positives():
    probabilities = np.array([[0.1, 0.9], [0.7, 0.2]])
    labels = np.array([[0.0, 1.0], [0.0, 0.0]])

    with pytest.warns(UndefinedMetricWarning, match=r"\[0\]"):
        thresholds = choose_thresholds(probabilities, labels, np.ones_like(labels))

    assert thresholds[0] == 0.5


def test_thresholds_ignore_masked_cells():
    probabilities = np.array([[0.1], [0.3], [0.35], [0.9]])
    labels = np.array([[0.0], [1.0], [0.0], [1.0]])
    mask = np.array([[1.0], [0.0], [1.0], [1.0]])

    thresholds = choose_thresholds(probabilities, labels, mask)

    # Without the mask the best threshold would sit below 0.3 to catch the positive at 0.3.
    assert thresholds[0] > 0.35


def test_bootstrap_interval_contains_estimate():
    probabilities, labels = _random_split(seed=7, n=500)

    result = evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=500, seed=11)
    lower, upper = result["weighted_f1_ci95"]

    assert lower < result["weighted_f1"] < upper
    assert upper - lower < 0.2


def test_bootstrap_interval_is_seeded():
    probabilities, labels = _random_split(seed=8)
    arguments = dict(mask=np.ones_like(labels), thresholds=np.full(5, 0.5), label_names=_names(5), bootstrap=300)

    first = evaluate(probabilities, labels, seed=5, **arguments)["weighted_f1_ci95"]
    second = evaluate(probabilities, labels, seed=5, **arguments)["weighted_f1_ci95"]
    other = evaluate(probabilities, labels, seed=6, **arguments)["weighted_f1_ci95"]

    assert first == second
    assert first != other


def test_bootstrap_resample_matches_sklearn():
    # The bootstrap counts each report by its multiplicity in the resample. With one resample the
    # interval collapses to that resample's weighted F1, which must equal sklearn's on the drawn rows.
    # This replays the draw of evaluate: default_rng(seed).integers(0, n, size=(1, n)).
    probabilities, labels = _random_split(seed=9, n=120)
    drawn = np.random.default_rng(21).integers(0, 120, size=(1, 120))[0]
    expected = f1_score(labels[drawn], probabilities[drawn] >= 0.5, average="weighted")

    result = evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=1, seed=21)

    assert result["weighted_f1_ci95"][0] == pytest.approx(expected, abs=1e-12)
    assert result["weighted_f1_ci95"][1] == pytest.approx(expected, abs=1e-12)


def test_evaluate_output_is_strict_json():
    probabilities, labels = _random_split(seed=10)
    labels[:, 0] = 0.0

    with pytest.warns(UndefinedMetricWarning):
        result = evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=50)

    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["n_reports"] == 300


def test_undefined_precision_warns_not_zero():
    probabilities, labels = _random_split(seed=11)
    probabilities[:, 0] *= 0.5
    thresholds = np.array([0.9, 0.5, 0.5, 0.5, 0.5])

    with pytest.warns(UndefinedMetricWarning, match="Precision of label finding_0"):
        result = evaluate(probabilities, labels, np.ones_like(labels), thresholds, _names(5), bootstrap=0)

    assert result["per_label"]["finding_0"]["precision"] is None
    assert result["per_label"]["finding_0"]["f1"] == 0.0


def test_auroc_undefined_for_single_class():
    probabilities, labels = _random_split(seed=12)
    labels[:, 3] = 1.0

    with pytest.warns(UndefinedMetricWarning, match="AUROC of label finding_3"):
        result = evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=0)

    assert result["per_label"]["finding_3"]["auroc"] is None
    assert result["per_label"]["finding_0"]["auroc"] > 0.5


def test_evaluate_rejects_probabilities_outside_unit():
    probabilities, labels = _random_split(seed=13)
    probabilities[0, 0] = 1.5

    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=0)


def test_bce_matches_torch_unmasked():
    rng = np.random.default_rng(14)
    logits = rng.normal(0.0, 4.0, size=(64, 7))
    logits[0, 0] = 60.0
    logits[1, 1] = -60.0
    labels = (rng.random((64, 7)) < 0.4).astype(np.float64)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits), torch.from_numpy(labels), reduction="none"
    ).mean(dim=1).numpy()

    losses = multilabel_bce(logits, labels, np.ones_like(labels))

    np.testing.assert_allclose(losses, expected, rtol=1e-12, atol=1e-12)


def test_bce_averages_only_scored_labels():
    logits = np.array([[2.0, -1.0, 3.0], [0.5, 0.5, 0.5]])
    labels = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    expected_first = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(3.0))) / 2

    losses = multilabel_bce(logits, labels, mask)

    assert losses[0] == pytest.approx(expected_first, rel=1e-12)
    assert math.isnan(losses[1])


def test_json_helper_replaces_non_finite():
    converted = to_json_compatible({"a": np.float32(np.nan), "b": [np.inf, 1.5], "c": np.int64(3), "d": (True,)})

    assert converted == {"a": None, "b": [None, 1.5], "c": 3, "d": [True]}


def test_evaluate_no_warning_when_defined():
    probabilities, labels = _random_split(seed=15)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate(probabilities, labels, np.ones_like(labels), np.full(5, 0.5), _names(5), bootstrap=20)

    assert result["excluded_labels"] == []


def test_thresholds_split_a_narrow_band():
    # Every probability lies within 0.001 of 0.5, between two points of the fixed grid.
    probabilities = np.array([[0.5002], [0.5004], [0.5006], [0.5008]])
    labels = np.array([[0.0], [0.0], [1.0], [1.0]])

    thresholds = choose_thresholds(probabilities, labels, np.ones_like(labels))

    assert 0.5004 < thresholds[0] <= 0.5006
