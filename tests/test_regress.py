"""The regression gate on small synthetic results folders that follow the result.json schema."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from bench.regress import EXIT_BAD_INPUT, EXIT_PASS, EXIT_REGRESSION, TOLERANCE_FLOORS, main, run_key
from bench.results import SCHEMA_VERSION

FINGERPRINT = "f" * 64
# Seed-to-seed values of a plausible smoke sweep: weighted F1 per method and attack AUC of dp-lora.
F1_BY_SEED = {
    "tfidf": [0.89, 0.89, 0.89],
    "full": [0.80, 0.83, 0.81],
    "lora": [0.74, 0.78, 0.76],
    "dp-lora": [0.40, 0.44, 0.38],
}
AUC_BY_SEED = {"loss": [0.50, 0.52, 0.49], "reference": [0.51, 0.50, 0.53]}


def make_result(method: str, seed: int, *, f1: float, aucs: dict[str, float] | None = None, epsilon_rdp: float | None = 9.99) -> dict:
    """Return a finished result with the fields the gate reads, shaped like bench.pipeline's output."""
    private = method == "dp-lora"
    run_id = f"synthetic-minilm-l6-{method}{'-eps10' if private else ''}-s{seed}-{'0' * 12}"
    result = {
        "schema_version": SCHEMA_VERSION,
        "status": "complete",
        "run_id": run_id,
        "config": {
            "dataset": "synthetic",
            "model": "minilm-l6",
            "method": method,
            "privacy": {"epsilon": 10.0, "delta": None, "accountant": "rdp"} if private else None,
            "train": {"seed": seed},
        },
        "method": {"name": method, "private": private},
        "dataset_fingerprint": FINGERPRINT,
        "metrics": {"test": {"weighted_f1": f1, "micro_f1": f1, "macro_f1": f1}},
        "privacy": None,
        "audit": None,
    }
    if private:
        result["privacy"] = {"target_epsilon": 10.0, "epsilon_rdp": epsilon_rdp, "noise_multiplier": 0.54, "accountant_steps": 36}
    if aucs is not None:
        result["audit"] = {"attacks": {name: {"auc": auc, "tpr_at_1pct_fpr": 0.01} for name, auc in aucs.items()}, "pool_size": 200}
    return result


def write_results(folder: Path, results: list[dict], *, sweep: bool = True) -> Path:
    for result in results:
        run = folder / "runs" / result["run_id"]
        run.mkdir(parents=True)
        (run / "result.json").write_text(json.dumps(result))
    if sweep:
        (folder / "sweep.json").write_text(json.dumps({"preset": "smoke", "runs": [r["run_id"] for r in results]}))
    return folder


def sweep_results(seeds=(0, 1, 2)) -> list[dict]:
    results = []
    for seed in seeds:
        for method, values in F1_BY_SEED.items():
            aucs = {name: by_seed[seed] for name, by_seed in AUC_BY_SEED.items()} if method == "dp-lora" else None
            results.append(make_result(method, seed, f1=values[seed], aucs=aucs))
    return results


@pytest.fixture
def baseline(tmp_path) -> Path:
    """Build a baseline from a three-seed sweep through ``--update``; return its path."""
    folder = write_results(tmp_path / "seeds", sweep_results())
    path = tmp_path / "baseline.json"
    status = main(["--results", str(folder), "--baseline", str(path), "--update", "--reason", "first baseline"])
    assert status == EXIT_PASS
    return path


def _gate(results_folder: Path, baseline: Path) -> int:
    return main(["--results", str(results_folder), "--baseline", str(baseline)])


def _at_baseline(baseline: Path) -> list[dict]:
    """Return one seed's results whose every value equals the baseline's."""
    stored = json.loads(baseline.read_text())
    results = []
    for method in F1_BY_SEED:
        key = "dp-lora eps=10" if method == "dp-lora" else method
        aucs = {name: entry["value"] for name, entry in stored["attack_auc"].get(key, {}).items()} or None
        results.append(make_result(method, 0, f1=stored["weighted_f1"][key]["value"], aucs=aucs))
    return results


def test_update_records_spread_and_reason(baseline):
    stored = json.loads(baseline.read_text())
    lora = stored["weighted_f1"]["lora"]

    assert lora["value"] == pytest.approx(np.mean(F1_BY_SEED["lora"]))
    assert lora["std"] == pytest.approx(np.std(F1_BY_SEED["lora"], ddof=1))
    assert lora["tolerance"] == pytest.approx(max(3 * lora["std"], TOLERANCE_FLOORS["weighted_f1"]))
    assert stored["weighted_f1"]["tfidf"]["tolerance"] == TOLERANCE_FLOORS["weighted_f1"]
    assert stored["seeds"] == [0, 1, 2]
    assert stored["updated"]["reason"] == "first baseline"
    assert stored["updated"]["date"]
    assert "git_commit" in stored["updated"]
    assert set(stored["attack_auc"]["dp-lora eps=10"]) == {"loss", "reference"}


def test_gate_passes_at_baseline(tmp_path, baseline, capsys):
    folder = write_results(tmp_path / "fresh", _at_baseline(baseline))

    status = _gate(folder, baseline)

    output = capsys.readouterr().out
    assert status == EXIT_PASS
    assert "FAIL" not in output
    assert "epsilon_rdp" in output


def test_gate_passes_on_its_own_sweep(tmp_path, baseline):
    folder = write_results(tmp_path / "again", sweep_results())

    assert _gate(folder, baseline) == EXIT_PASS


def test_gate_fails_on_zero_noise(tmp_path, baseline, capsys):
    # With the noise multiplier forced to 0 the accountant reports infinite epsilon (stored as
    # null) and the unprotected model leaks: both attacks separate members well.
    results = _at_baseline(baseline)
    private = next(r for r in results if r["method"]["private"])
    private["privacy"].update(noise_multiplier=0.0, epsilon_rdp=None)
    for attack in private["audit"]["attacks"].values():
        attack["auc"] = 0.93
    folder = write_results(tmp_path / "no-noise", results)

    status = _gate(folder, baseline)

    rows = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert status == EXIT_REGRESSION
    assert any("epsilon_rdp" in row and "inf" in row for row in rows)
    assert sum("attack_auc" in row for row in rows) == 2


def _weighted_f1_with_shuffled_label(seed: int = 0) -> tuple[float, float]:
    """Return weighted F1 of good predictions, then with the predictions of the most common label shuffled."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.45, 0.3, 0.2, 0.1, 0.05])
    truth = (rng.random((400, prevalence.size)) < prevalence).astype(int)
    predicted = np.where(rng.random(truth.shape) < 0.08, 1 - truth, truth)
    shuffled = predicted.copy()
    shuffled[:, 0] = rng.permutation(shuffled[:, 0])
    return (
        f1_score(truth, predicted, average="weighted", zero_division=0),
        f1_score(truth, shuffled, average="weighted", zero_division=0),
    )


def test_gate_fails_on_shuffled_label(tmp_path, baseline, capsys):
    clean, shuffled = _weighted_f1_with_shuffled_label()
    results = _at_baseline(baseline)
    lora = next(r for r in results if r["config"]["method"] == "lora")
    lora["metrics"]["test"]["weighted_f1"] -= clean - shuffled
    folder = write_results(tmp_path / "shuffled", results)
    tolerance = json.loads(baseline.read_text())["weighted_f1"]["lora"]["tolerance"]

    status = _gate(folder, baseline)

    rows = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert clean - shuffled > tolerance, "the simulated drop must exceed the tolerance for this test to mean anything"
    assert status == EXIT_REGRESSION
    assert len(rows) == 1
    assert "weighted_f1" in rows[0]
    assert "| lora " in rows[0]


def test_gate_allows_drop_within_tolerance(tmp_path, baseline):
    stored = json.loads(baseline.read_text())
    results = _at_baseline(baseline)
    full = next(r for r in results if r["config"]["method"] == "full")
    full["metrics"]["test"]["weighted_f1"] -= 0.9 * stored["weighted_f1"]["full"]["tolerance"]
    folder = write_results(tmp_path / "small-drop", results)

    assert _gate(folder, baseline) == EXIT_PASS


def test_gate_fails_on_lower_bound_above_target(tmp_path, baseline, capsys):
    results = _at_baseline(baseline)
    private = next(r for r in results if r["method"]["private"])
    private["audit"]["canaries"] = {"epsilon_lower_bound": {"epsilon": 12.5, "confidence": 0.95}}
    folder = write_results(tmp_path / "bound", results)

    status = _gate(folder, baseline)

    rows = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert status == EXIT_REGRESSION
    assert len(rows) == 1
    assert "epsilon_lower_bound" in rows[0]


def test_gate_missing_folder_exits_2(tmp_path, baseline, capsys):
    status = _gate(tmp_path / "absent", baseline)

    assert status == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_gate_empty_folder_exits_2(tmp_path, baseline, capsys):
    (tmp_path / "empty" / "runs").mkdir(parents=True)

    status = _gate(tmp_path / "empty", baseline)

    assert status == EXIT_BAD_INPUT
    assert "no finished runs" in capsys.readouterr().err


def test_gate_schema_mismatch_exits_2(tmp_path, baseline, capsys):
    results = _at_baseline(baseline)
    results[0]["schema_version"] = SCHEMA_VERSION + 1
    folder = write_results(tmp_path / "newer", results)

    status = _gate(folder, baseline)

    assert status == EXIT_BAD_INPUT
    assert "schema" in capsys.readouterr().err


def test_gate_missing_method_exits_2(tmp_path, baseline, capsys):
    results = [r for r in _at_baseline(baseline) if r["config"]["method"] != "full"]
    folder = write_results(tmp_path / "no-full", results)

    status = _gate(folder, baseline)

    assert status == EXIT_BAD_INPUT
    assert "'full'" in capsys.readouterr().err


def test_gate_other_dataset_exits_2(tmp_path, baseline):
    results = _at_baseline(baseline)
    for result in results:
        result["dataset_fingerprint"] = "0" * 64
    folder = write_results(tmp_path / "other-data", results)

    assert _gate(folder, baseline) == EXIT_BAD_INPUT


def test_gate_unfinished_sweep_run_exits_2(tmp_path, baseline, capsys):
    results = _at_baseline(baseline)
    folder = write_results(tmp_path / "partial", results)
    (folder / "runs" / results[1]["run_id"] / "result.json").unlink()

    status = _gate(folder, baseline)

    assert status == EXIT_BAD_INPUT
    assert "no finished result.json" in capsys.readouterr().err


def test_update_without_reason_fails(tmp_path, capsys):
    folder = write_results(tmp_path / "seeds", sweep_results())
    path = tmp_path / "baseline.json"

    status = main(["--results", str(folder), "--baseline", str(path), "--update"])

    assert status == EXIT_BAD_INPUT
    assert "--reason" in capsys.readouterr().err
    assert not path.exists()


def test_update_blank_reason_fails(tmp_path):
    folder = write_results(tmp_path / "seeds", sweep_results())
    path = tmp_path / "baseline.json"

    status = main(["--results", str(folder), "--baseline", str(path), "--update", "--reason", "  "])

    assert status == EXIT_BAD_INPUT
    assert not path.exists()


def test_update_one_seed_needs_previous_spread(tmp_path, capsys):
    folder = write_results(tmp_path / "one-seed", sweep_results(seeds=(0,)))
    path = tmp_path / "baseline.json"

    status = main(["--results", str(folder), "--baseline", str(path), "--update", "--reason", "single seed"])

    assert status == EXIT_BAD_INPUT
    assert "several seeds" in capsys.readouterr().err
    assert not path.exists()


def test_update_one_seed_keeps_previous_spread(tmp_path, baseline):
    before = json.loads(baseline.read_text())
    results = sweep_results(seeds=(0,))
    next(r for r in results if r["config"]["method"] == "lora")["metrics"]["test"]["weighted_f1"] = 0.70
    folder = write_results(tmp_path / "one-seed", results)

    status = main(["--results", str(folder), "--baseline", str(baseline), "--update", "--reason", "lora retuned"])

    after = json.loads(baseline.read_text())
    assert status == EXIT_PASS
    assert after["weighted_f1"]["lora"]["value"] == pytest.approx(0.70)
    assert after["weighted_f1"]["lora"]["std"] == pytest.approx(before["weighted_f1"]["lora"]["std"])
    assert after["weighted_f1"]["lora"]["std_source"] == "kept from the previous baseline"
    assert after["updated"]["reason"] == "lora retuned"


def test_gate_lists_unchecked_attacks(tmp_path, baseline, capsys):
    results = _at_baseline(baseline)
    next(r for r in results if r["method"]["private"])["audit"]["attacks"]["blind"] = {"auc": 0.5}
    folder = write_results(tmp_path / "new-attack", results)

    status = _gate(folder, baseline)

    assert status == EXIT_PASS
    assert "not checked, because the baseline has no value for them: dp-lora eps=10 blind" in capsys.readouterr().out


def test_run_key_names_label_source():
    result = make_result("lora", 0, f1=0.7)
    result["config"]["label_source"] = "rules"

    assert run_key(result) == "lora labels=rules"


def test_gate_reads_runs_without_sweep_file(tmp_path, baseline):
    folder = write_results(tmp_path / "bare", _at_baseline(baseline), sweep=False)

    assert _gate(folder, baseline) == EXIT_PASS


def test_gate_module_entry_point(tmp_path, baseline):
    bad = copy.deepcopy(_at_baseline(baseline))
    next(r for r in bad if r["method"]["private"])["privacy"]["epsilon_rdp"] = 10.5
    folder = write_results(tmp_path / "over-budget", bad)

    completed = subprocess.run(
        [sys.executable, "-m", "bench.regress", "--results", str(folder), "--baseline", str(baseline)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )

    assert completed.returncode == EXIT_REGRESSION
    assert "epsilon_rdp" in completed.stdout
