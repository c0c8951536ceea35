"""End-to-end runs: results, checkpoints, reruns, determinism and the privacy of report text."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from bench.config import AuditOptions, DatasetOptions, PrivacyOptions, RunConfig, SplitOptions, TrainOptions
from bench.pipeline import run_one
from bench.report import write_report

TEXT_MARKER = "QQTEXTMARK"
ID_MARKER = "QQREPORTID"
PATIENT_MARKER = "QQPATIENTID"
LABELS = ("Effusion", "Cardiomegaly", "Edema")


def write_marked_csv(path: Path, rows: int = 160, seed: int = 0) -> Path:
    """Write a CSV whose texts, report ids and patient ids all carry marker strings."""
    rng = np.random.default_rng(seed)
    words = ["pleural effusion", "cardiomegaly", "pulmonary edema"]
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["report", "patient", "text", *LABELS])
        for i in range(rows):
            labels = (rng.random(3) < 0.4).astype(int)
            found = [w for w, on in zip(words, labels) if on] or ["no acute disease"]
            text = f"IMPRESSION: {' and '.join(found)} {TEXT_MARKER}{i}. FINDINGS: study {i} reviewed."
            writer.writerow([f"{ID_MARKER}{i:04d}", f"{PATIENT_MARKER}{i // 2:04d}", text, *labels])
    return path


def marked_config(data: Path, model: Path, method: str, *, epsilon: float | None = None, seed: int = 0) -> RunConfig:
    return RunConfig(
        dataset="csv",
        model=str(model),
        method=method,
        data_dir=str(data),
        dataset_options=DatasetOptions(label_columns=LABELS, id_column="report", patient_column="patient"),
        split=SplitOptions(seed=1),
        train=TrainOptions(epochs=1.0, batch_size=16, physical_batch_size=8, max_length=32, learning_rate=5e-3, seed=seed),
        privacy=PrivacyOptions(epsilon=epsilon) if epsilon else None,
        audit=AuditOptions(reference_models=2, max_pool=60, exposure_canaries=1, canary_repeats=(1, 4), canary_candidates=20, one_run_canaries=16),
    )


@pytest.fixture(scope="module")
def marked_sweep(tmp_path_factory, tiny_bert_dir):
    """Run tfidf, LoRA and DP-LoRA with the audit on the marked CSV; return the folders and captured logs."""
    root = tmp_path_factory.mktemp("marked")
    data = write_marked_csv(root / "reports.csv")
    results = root / "results"
    handler_records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(self.format(record))

    collector = Collect(level=logging.DEBUG)
    logging.getLogger().addHandler(collector)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        outputs = [
            run_one(marked_config(data, tiny_bert_dir, "tfidf"), results, progress=False),
            run_one(marked_config(data, tiny_bert_dir, "lora"), results, progress=False),
            run_one(marked_config(data, tiny_bert_dir, "dp-lora", epsilon=8.0), results, progress=False),
        ]
        report = write_report(results, root / "report")
    finally:
        logging.getLogger().removeHandler(collector)
        logging.getLogger().setLevel(previous)
    return {"root": root, "data": data, "results": results, "outputs": outputs, "report": report, "logs": handler_records}


def test_results_hold_no_text_or_ids(marked_sweep):
    leaked = []
    for path in list(marked_sweep["results"].rglob("*")) + list(marked_sweep["report"].parent.rglob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes()
        for marker in (TEXT_MARKER, ID_MARKER, PATIENT_MARKER):
            if marker.encode() in content:
                leaked.append(f"{path.name}: {marker}")
    assert not leaked, f"markers found in written files: {leaked}"


def test_logs_hold_no_text_or_ids(marked_sweep):
    assert marked_sweep["logs"], "the run logged nothing, so this test would check nothing"
    for line in marked_sweep["logs"]:
        for marker in (TEXT_MARKER, ID_MARKER, PATIENT_MARKER):
            assert marker not in line


def test_result_records_run_facts(marked_sweep):
    dp = marked_sweep["outputs"][2]
    privacy = dp["privacy"]

    assert dp["status"] == "complete"
    assert privacy["epsilon_rdp"] <= 8.0
    assert privacy["delta"] < 1 / dp["dataset"]["splits"]["reports"]["members"]
    assert privacy["accountant_steps"] == dp["training"]["optimizer_steps"]
    assert len(dp["member_ids_sha256"]) == 64
    assert dp["environment"]["packages"]["opacus"]
    assert "commit" in dp["environment"]["git"]
    assert len(dp["thresholds"]) == len(LABELS)


def test_checkpoint_has_safetensors_and_manifest(marked_sweep):
    for output in marked_sweep["outputs"]:
        folder = marked_sweep["results"] / "runs" / output["run_id"] / "checkpoint"
        manifest = json.loads((folder / "manifest.json").read_text())

        assert any(p.suffix == ".safetensors" for p in folder.iterdir())
        assert manifest["dataset_fingerprint"] == output["dataset"]["fingerprint"]
        assert manifest["thresholds"] == output["thresholds"]


def test_lora_checkpoint_stores_adapter_only(marked_sweep):
    from safetensors import safe_open

    lora = marked_sweep["outputs"][1]
    folder = marked_sweep["results"] / "runs" / lora["run_id"] / "checkpoint"
    with safe_open(str(folder / "adapter_model.safetensors"), framework="pt") as weights:
        names = list(weights.keys())

    assert any("lora_" in name for name in names)
    assert any("classifier" in name for name in names)
    assert not any("attention.self.key" in name for name in names)


def test_audit_scores_every_attack(marked_sweep):
    for output in marked_sweep["outputs"]:
        attacks = output["audit"]["attacks"]

        assert set(attacks) == {"loss", "reference", "rmia", "blind"}
        for metrics in attacks.values():
            assert 0.0 <= metrics["auc"] <= 1.0


def test_audit_sides_share_no_patient_or_text(marked_sweep):
    from bench.pipeline import prepare_splits

    config = marked_config(marked_sweep["data"], Path("unused"), "tfidf")
    splits = prepare_splits(config)
    member_patients = {r.patient_id for r in splits.members.reports}
    member_texts = {r.text for r in splits.members.reports}

    assert not member_patients & {r.patient_id for r in splits.non_members.reports}
    assert not member_texts & {r.text for r in splits.non_members.reports}


def test_report_has_every_table(marked_sweep):
    text = marked_sweep["report"].read_text()

    assert "## Utility" in text
    assert "## Leakage" in text
    assert "weighted F1" in text
    assert "reference" in text
    assert "TPR@0% FPR" in text
    assert "ROC ε lower bound" in text
    assert "## Extraction and one-run audit" in text
    assert "exposure ×1 mean / max (bits)" in text
    assert "exposure ×4 mean / max (bits)" in text
    assert "one-run ε lower bound [m, guesses, correct]" in text
    assert "## Appendix: per-label slices" in text
    assert (marked_sweep["report"].parent / "privacy_utility.png").is_file()
    assert (marked_sweep["report"].parent / "roc_curves.png").is_file()


def test_report_canary_rows_match_results(marked_sweep):
    from bench.report import canary_headers, canary_rows

    outputs = marked_sweep["outputs"]
    headers = canary_headers(outputs)
    rows = canary_rows(outputs)

    assert len(rows) == len(outputs)
    for output, row in zip(outputs, rows):
        cells = dict(zip(headers, row))
        canaries = output["audit"]["canaries"]
        bound = canaries["epsilon_lower_bound"]
        four_copies = canaries["exposure"]["by_repeats"]["4"]
        assert cells["method"] == output["config"]["method"]
        assert cells["one-run ε lower bound [m, guesses, correct]"] == f"{bound['epsilon']:.2f} [16, {bound['guesses']}, {bound['correct']}]"
        assert cells["exposure ×4 mean / max (bits)"] == f"{four_copies['mean']:.2f} / {four_copies['max']:.2f}"


def test_report_slice_rows_skip_excluded(marked_sweep):
    from bench.report import slice_rows

    outputs = marked_sweep["outputs"]
    rows, excluded = slice_rows(outputs)
    slices = [labels for output in outputs for labels in output["audit"]["slices"].values()]
    measured = sum(1 for labels in slices for metrics in labels.values() if "excluded" not in metrics)

    assert len(rows) == measured
    assert excluded == sum(len(labels) for labels in slices) - measured
    assert {row[4] for row in rows} <= set(LABELS)


def test_finished_run_is_skipped(marked_sweep, tiny_bert_dir, monkeypatch):
    from baselines import METHODS

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(type(METHODS.get("tfidf")), "fit", fail)
    config = marked_config(marked_sweep["data"], tiny_bert_dir, "tfidf")
    again = run_one(config, marked_sweep["results"], progress=False)

    assert again["run_id"] == marked_sweep["outputs"][0]["run_id"]


def test_interrupted_run_restarts_cleanly(tmp_path, tiny_bert_dir):
    data = write_marked_csv(tmp_path / "reports.csv")
    config = marked_config(data, tiny_bert_dir, "tfidf").replace(audit=AuditOptions(enabled=False))
    folder = tmp_path / "results" / "runs" / config.run_id()
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "partial.safetensors").write_bytes(b"truncated")

    result = run_one(config, tmp_path / "results", progress=False)

    assert result["status"] == "complete"
    assert not (folder / "checkpoint" / "partial.safetensors").exists()


def test_same_seed_same_metrics(tmp_path, tiny_bert_dir):
    data = write_marked_csv(tmp_path / "reports.csv")
    config = marked_config(data, tiny_bert_dir, "dp-lora", epsilon=4.0).replace(audit=AuditOptions(enabled=False))

    first = run_one(config, tmp_path / "a", progress=False)
    second = run_one(config, tmp_path / "b", progress=False)

    assert first["metrics"]["test"] == second["metrics"]["test"]
    assert first["privacy"]["noise_multiplier"] == second["privacy"]["noise_multiplier"]


def test_changed_split_retrains_references(marked_sweep, tiny_bert_dir):
    config = marked_config(marked_sweep["data"], tiny_bert_dir, "tfidf").replace(split=SplitOptions(seed=2))

    result = run_one(config, marked_sweep["results"], progress=False)

    assert result["audit"]["references"]["trained"] == 2
    assert result["audit"]["references"]["reused_from_cache"] == 0
    assert result["audit"]["references"]["reports_per_reference"] == result["audit"]["pool_size"] // 2


def test_teacher_labels_train_gold_scores(tmp_path):
    config = RunConfig(
        dataset="synthetic",
        model="minilm-l6",
        method="tfidf",
        dataset_options=DatasetOptions(synthetic_reports=200),
        audit=AuditOptions(enabled=False),
        label_source="rules",
    )
    gold = run_one(config.replace(label_source="gold"), tmp_path, progress=False)

    taught = run_one(config, tmp_path, progress=False)

    assert taught["label_source"] == "rules"
    assert taught["teacher_agreement"]["weighted"]["f1"] > 0.5
    assert taught["metrics"]["test"]["n_reports"] == gold["metrics"]["test"]["n_reports"]
    assert taught["dataset"]["fingerprint"] == gold["dataset"]["fingerprint"]
    assert taught["run_id"] != gold["run_id"]


def test_teacher_split_keeps_gold_test(tmp_path):
    from bench.pipeline import prepare_splits

    config = RunConfig(
        dataset="synthetic", model="minilm-l6", method="tfidf", dataset_options=DatasetOptions(synthetic_reports=200), label_source="rules"
    )
    taught = prepare_splits(config)
    gold = prepare_splits(config.replace(label_source="gold"))

    assert [r.report_id for r in taught.members.reports] == [r.report_id for r in gold.members.reports]
    assert np.array_equal(taught.test.label_matrix(), gold.test.label_matrix())
    assert not np.array_equal(taught.members.label_matrix(), gold.members.label_matrix())


def test_unknown_label_source_rejected():
    with pytest.raises(ValueError, match="label_source='oracle'"):
        RunConfig(dataset="synthetic", model="minilm-l6", method="tfidf", label_source="oracle")


def test_checkpoint_rejects_other_label_set(tiny_bert_dir):
    from baselines.neural import NeuralPredictor
    from baselines.tfidf import TfidfPredictor
    from bench.models import load_classifier, resolve_model
    from bench.records import Corpus
    from tests.conftest import make_toy_corpus

    toy = make_toy_corpus(8)
    other = Corpus("toy", ("Atelectasis", "Cardiomegaly", "Edema", "Mass"), [])
    model, tokenizer = load_classifier(resolve_model(str(tiny_bert_dir)), toy.label_names)
    predictors = [
        NeuralPredictor(model, tokenizer, toy.label_names, 32, save_adapter_only=False),
        TfidfPredictor(None, [], np.zeros(3, dtype=np.float32), toy.label_names),
    ]

    for predictor in predictors:
        with pytest.raises(ValueError, match="label set"):
            predictor.predict_logits(other)


def test_report_attack_wall_time(marked_sweep):
    from bench.report import LEAKAGE_HEADERS, leakage_rows

    outputs = marked_sweep["outputs"]
    rows = leakage_rows(outputs)
    audited = [output for output in outputs if output.get("audit")]
    first = audited[0]["audit"]
    reference_seconds = (first.get("references") or {}).get("train_seconds") or 0.0

    for row in rows[: len(first["attacks"])]:
        cells = dict(zip(LEAKAGE_HEADERS, row))
        scoring = first["attacks"][cells["attack"]]["seconds"]
        extra = reference_seconds if cells["attack"] in ("reference", "rmia", "lira-offline", "lira-online") else 0.0
        assert float(cells["wall s"]) == pytest.approx(scoring + extra, abs=0.06)


def test_report_leakage_intervals(marked_sweep):
    from bench.report import LEAKAGE_HEADERS, leakage_rows

    audited = [output for output in marked_sweep["outputs"] if output.get("audit")]
    first = audited[0]["audit"]["attacks"]
    rows = leakage_rows(audited)[: len(first)]

    for row in rows:
        cells = dict(zip(LEAKAGE_HEADERS, row))
        metrics = first[cells["attack"]]
        low, high = metrics["ci95"]["auc"]
        assert cells["AUC ↓"] == f"{metrics['auc']:.3f} [{low:.3f}, {high:.3f}]"
