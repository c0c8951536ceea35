"""Canaries in audited runs: insertion, isolation from the audit data, the result schema and DP's effect on exposure."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from attacks.canaries import UNSTATED_FINDINGS
from bench.canary_audit import CANARY_SCORES_FILE, plan_canaries, with_canaries
from bench.config import AuditOptions, DatasetOptions, PrivacyOptions, RunConfig, SplitOptions, TrainOptions
from bench.pipeline import prepare_splits, run_one
from bench.regress import epsilon_lower_bounds
from tests.test_pipeline import LABELS, write_marked_csv

CANARY_AUDIT = AuditOptions(
    reference_models=2,
    attacks=("loss", "reference", "blind"),
    max_pool=60,
    exposure_canaries=2,
    canary_repeats=(1, 4, 16),
    canary_candidates=50,
    one_run_canaries=40,
)


def canary_config(data: Path, model: str, method: str, *, audit: AuditOptions = CANARY_AUDIT, epsilon: float | None = None, **train) -> RunConfig:
    options = {"epochs": 1.0, "batch_size": 16, "physical_batch_size": 16, "max_length": 48, "learning_rate": 5e-3, **train}
    return RunConfig(
        dataset="csv",
        model=model,
        method=method,
        data_dir=str(data),
        dataset_options=DatasetOptions(label_columns=LABELS, id_column="report", patient_column="patient"),
        split=SplitOptions(seed=1),
        train=TrainOptions(**options),
        privacy=PrivacyOptions(epsilon=epsilon) if epsilon else None,
        audit=audit,
    )


def is_canary_text(text: str) -> bool:
    return UNSTATED_FINDINGS in text


@pytest.fixture(scope="module")
def tfidf_run(tmp_path_factory):
    """Run tfidf with canaries and two reference models, recording every corpus that is trained on or scored."""
    from baselines import METHODS

    root = tmp_path_factory.mktemp("canary-run")
    data = write_marked_csv(root / "reports.csv")
    config = canary_config(data, "unused", "tfidf")
    runner_type = type(METHODS.get("tfidf"))
    original_fit = runner_type.fit
    fits: list[dict] = []
    scored: list = []

    def recording_fit(self, train, validation, run_config, *, progress=True):
        fits.append({"train": train, "validation": validation})
        fitted = original_fit(self, train, validation, run_config, progress=progress)
        original_predict = fitted.predictor.predict_logits

        def recording_predict(corpus, *, progress=False):
            scored.append(corpus)
            return original_predict(corpus, progress=progress)

        fitted.predictor.predict_logits = recording_predict
        return fitted

    logs: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logs.append(self.format(record))

    collector = Collect(level=logging.DEBUG)
    root_logger = logging.getLogger()
    previous_level = root_logger.level
    root_logger.addHandler(collector)
    root_logger.setLevel(logging.DEBUG)
    patch = pytest.MonkeyPatch()
    patch.setattr(runner_type, "fit", recording_fit)
    try:
        result = run_one(config, root / "results", progress=False)
    finally:
        patch.undo()
        root_logger.removeHandler(collector)
        root_logger.setLevel(previous_level)
    splits = prepare_splits(config)
    plan = plan_canaries(config, splits.members.label_names)
    return {"config": config, "result": result, "fits": fits, "scored": scored, "logs": logs, "root": root, "splits": splits, "plan": plan}


# Insertion.


def test_insertion_counts_match_repeats(tfidf_run):
    splits, plan = tfidf_run["splits"], tfidf_run["plan"]

    train = with_canaries(splits.members, plan)
    canary_texts = [r.text for r in train.reports if is_canary_text(r.text)]

    assert len(plan.exposure) == 2 * 3
    assert sorted(c.repeats for c in plan.exposure) == [1, 1, 4, 4, 16, 16]
    for canary in plan.exposure:
        assert canary_texts.count(canary.text) == canary.repeats, canary.id
    for canary, inside in zip(plan.one_run, plan.included):
        assert canary_texts.count(canary.text) == int(inside), canary.id
    assert len(train) == len(splits.members) + 2 * (1 + 4 + 16) + int(plan.included.sum())
    assert tfidf_run["result"]["audit"]["canaries"]["inserted_reports"] == len(train) - len(splits.members)


def test_target_trains_on_canaries(tfidf_run):
    target = tfidf_run["fits"][0]["train"]
    expected = with_canaries(tfidf_run["splits"].members, tfidf_run["plan"])

    assert [r.report_id for r in target.reports] == [r.report_id for r in expected.reports]
    assert tfidf_run["result"]["audit"]["canaries"]["training_reports"] == len(expected)


def test_canaries_absent_from_references(tfidf_run):
    fits = tfidf_run["fits"]

    assert len(fits) == 3, "expected the target and two reference models"
    for index, fit in enumerate(fits[1:], start=1):
        assert not any(is_canary_text(t) for t in fit["train"].texts()), f"reference model {index}"


def test_canaries_absent_from_validation(tfidf_run):
    for index, fit in enumerate(tfidf_run["fits"]):
        assert not any(is_canary_text(t) for t in fit["validation"].texts()), f"fit {index}"


def test_canaries_absent_from_splits(tfidf_run):
    splits = tfidf_run["splits"]

    for name in ("members", "non_members", "validation", "test"):
        corpus = getattr(splits, name)
        assert not any(is_canary_text(t) for t in corpus.texts()), name


def test_canaries_absent_from_audit_pool(tfidf_run):
    signals = np.load(tfidf_run["root"] / "results" / "runs" / tfidf_run["result"]["run_id"] / "signals.npz")
    pool_size = tfidf_run["result"]["audit"]["pool_size"]
    pool_scorings = [corpus for corpus in tfidf_run["scored"] if len(corpus) == pool_size and corpus.name != "canaries"]

    assert signals["is_member"].shape == (pool_size,)
    assert pool_scorings, "the audit pool was never scored"
    for corpus in pool_scorings:
        assert not any(is_canary_text(t) for t in corpus.texts())
    non_canary_scorings = [corpus for corpus in tfidf_run["scored"] if corpus.name != "canaries"]
    assert all(not any(is_canary_text(t) for t in corpus.texts()) for corpus in non_canary_scorings)


def test_inclusion_bits_seeded(tfidf_run):
    config = tfidf_run["config"]
    labels = tfidf_run["splits"].members.label_names

    again = plan_canaries(config, labels)
    other_seed = plan_canaries(config.replace(split=SplitOptions(seed=2)), labels)

    np.testing.assert_array_equal(again.included, tfidf_run["plan"].included)
    assert [c.secret for c in again.one_run] == [c.secret for c in tfidf_run["plan"].one_run]
    assert not np.array_equal(other_seed.included, tfidf_run["plan"].included)


def test_inclusion_bits_about_half():
    audit = AuditOptions(reference_models=0, attacks=("loss",), one_run_canaries=2000)
    config = RunConfig(dataset="synthetic", model="minilm-l6", method="tfidf", audit=audit)

    included = plan_canaries(config, LABELS).included

    assert included.dtype == bool
    assert included.shape == (2000,)
    # Binomial(2000, 1/2) has a standard deviation of about 22, so 0.45 to 0.55 is 4.5 standard deviations.
    assert 0.45 < included.mean() < 0.55


def test_inclusion_bits_saved_in_npz(tfidf_run):
    folder = tfidf_run["root"] / "results" / "runs" / tfidf_run["result"]["run_id"]

    with np.load(folder / CANARY_SCORES_FILE) as stored:
        np.testing.assert_array_equal(stored["one_run_included"], tfidf_run["plan"].included)
        assert stored["one_run_scores"].shape == (40,)
        assert stored["exposure_candidate_losses"].shape == (6, 50)
    result_text = (folder / "result.json").read_text()
    assert "one_run_included" not in result_text


def test_canary_labels_vary_and_unnamed(tfidf_run):
    plan = tfidf_run["plan"]
    patterns = {tuple(c.labels) for c in plan.exposure + plan.one_run}

    assert len(patterns) > 1
    for canary in plan.exposure + plan.one_run:
        for label in LABELS:
            assert label not in canary.text


def test_no_canaries_without_audit():
    audit = AuditOptions(enabled=False, exposure_canaries=2, one_run_canaries=8)
    config = RunConfig(dataset="synthetic", model="minilm-l6", method="tfidf", audit=audit)

    assert plan_canaries(config, LABELS) is None


# Result schema.


def test_result_has_canary_block(tfidf_run):
    canaries = tfidf_run["result"]["audit"]["canaries"]
    bound = canaries["epsilon_lower_bound"]
    exposure = canaries["exposure"]

    assert {"epsilon", "m", "guesses", "correct", "confidence", "included"} <= set(bound)
    assert bound["m"] == 40
    assert bound["included"] == int(tfidf_run["plan"].included.sum())
    assert 0 <= bound["correct"] <= bound["guesses"] <= 40
    assert bound["epsilon"] >= 0.0
    assert exposure["candidates"] == 50
    assert exposure["max_possible"] == pytest.approx(math.log2(50))
    assert set(exposure["by_repeats"]) == {"1", "4", "16"}
    for count, summary in exposure["by_repeats"].items():
        assert summary["canaries"] == 2, count
        assert 0.0 <= summary["mean"] <= summary["max"] <= math.log2(50), count
    assert canaries["scores_file"] == CANARY_SCORES_FILE


def test_non_private_delta_counts_canaries(tfidf_run):
    canaries = tfidf_run["result"]["audit"]["canaries"]

    assert canaries["delta"] == pytest.approx(1.0 / (10 * canaries["training_reports"]))
    assert "not private" in canaries["delta_source"]
    assert tfidf_run["result"]["audit"]["delta"] == canaries["delta"]


def test_result_has_roc_epsilon_per_attack(tfidf_run):
    attacks = tfidf_run["result"]["audit"]["attacks"]

    for name in ("loss", "reference"):
        bound = attacks[name]["epsilon_lower_bound"]
        assert bound["epsilon"] >= 0.0, name
        assert bound["delta"] == tfidf_run["result"]["audit"]["delta"], name
        assert bound["bonferroni"] is True, name
    assert "epsilon_lower_bound" not in attacks["blind"]
    assert attacks["blind"]["empirical_epsilon"]["epsilon"] >= 0.0


def test_gate_finds_every_lower_bound(tfidf_run):
    locations = {location for location, _ in epsilon_lower_bounds(tfidf_run["result"]["audit"])}

    assert locations == {
        "audit.attacks.loss.epsilon_lower_bound",
        "audit.attacks.reference.epsilon_lower_bound",
        "audit.canaries.epsilon_lower_bound",
    }


def test_result_has_slices_per_attack(tfidf_run):
    slices = tfidf_run["result"]["audit"]["slices"]

    assert set(slices) == {"loss", "reference", "blind"}
    for attack, labels in slices.items():
        assert set(labels) == set(LABELS), attack
        measured = [metrics for metrics in labels.values() if "excluded" not in metrics]
        assert measured, f"{attack}: every slice was excluded"
        assert all(0.0 <= metrics["auc"] <= 1.0 for metrics in measured), attack


def test_canary_secrets_not_written(tfidf_run):
    plan = tfidf_run["plan"]
    secrets = [c.secret for c in plan.exposure + plan.one_run]
    written = [p for p in (tfidf_run["root"] / "results").rglob("*") if p.is_file()]

    assert tfidf_run["logs"], "the run logged nothing, so this test would check nothing"
    for line in tfidf_run["logs"]:
        for secret in secrets:
            assert secret not in line
    for path in written:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, path.name


# Configuration.


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exposure_canaries": -1}, "exposure_canaries=-1"),
        ({"one_run_canaries": 2.5}, "one_run_canaries=2.5"),
        ({"one_run_canaries": True}, "one_run_canaries=True"),
        ({"canary_repeats": ()}, "canary_repeats=()"),
        ({"canary_repeats": (1, 0)}, r"canary_repeats=\(1, 0\)"),
        ({"canary_repeats": [1, 4]}, r"canary_repeats=\[1, 4\]"),
        ({"canary_repeats": (4, 4)}, "repeats a count"),
        ({"canary_candidates": 1}, "canary_candidates=1"),
        ({"canary_candidates": 10**9}, "canary_candidates=1000000000"),
    ],
)
def test_audit_options_reject_invalid_canaries(changes, message):
    with pytest.raises(ValueError, match=message):
        AuditOptions(**changes)


def test_presets_enable_canaries():
    from bench.presets import PRESETS

    for name in ("smoke", "default", "paper"):
        audit = PRESETS.get(name).audit
        assert audit.exposure_canaries > 0, name
        assert audit.one_run_canaries > 0, name


# End to end with a small transformer.


def test_dp_lora_lowers_exposure(tmp_path, tiny_bert_dir):
    data = write_marked_csv(tmp_path / "reports.csv")
    audit = AuditOptions(
        reference_models=0, attacks=("loss",), max_pool=40, exposure_canaries=4, canary_repeats=(16,), canary_candidates=100, one_run_canaries=32
    )
    model = str(tiny_bert_dir)

    plain = run_one(canary_config(data, model, "full", audit=audit, epochs=2.0), tmp_path / "results", progress=False)
    private = run_one(canary_config(data, model, "dp-lora", audit=audit, epsilon=0.5, epochs=2.0), tmp_path / "results", progress=False)

    plain_exposure = plain["audit"]["canaries"]["exposure"]["by_repeats"]["16"]["mean"]
    private_exposure = private["audit"]["canaries"]["exposure"]["by_repeats"]["16"]["mean"]
    assert plain_exposure > private_exposure
    assert plain_exposure > 2.0
    assert private["audit"]["canaries"]["epsilon_lower_bound"]["epsilon"] <= private["privacy"]["epsilon_rdp"] <= 0.5
    assert private["audit"]["canaries"]["delta"] == private["privacy"]["delta"]
    for location, bound in epsilon_lower_bounds(private["audit"]):
        assert bound <= 0.5, location
