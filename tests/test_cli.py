"""Tests for the ``python -m bench.run`` command line: bad input, the dry run and the preset grids."""

from __future__ import annotations

import logging

import pytest

import bench.run
from bench.config import AuditOptions, DatasetOptions, PrivacyOptions, RunConfig, TrainOptions
from bench.registry import UnknownNameError

# Every synthetic report contains this section header, so no error message may contain it.
REPORT_TEXT_MARKER = "IMPRESSION:"


@pytest.fixture(autouse=True)
def restore_root_logging():
    """Undo the handlers and level that ``bench.run.main`` installs on the root logger."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _run_main(argv, out, capsys) -> tuple[int, str]:
    code = bench.run.main([*argv, "--out", str(out), "--dry-run"])
    return code, capsys.readouterr().err


def _build(argv):
    return bench.run.build_grid(bench.run.parse_args(argv))


# (test id, arguments, exception build_grid raises, strings the message must contain)
BAD_INPUTS = [
    ("dataset", ["--dataset", "no-such-data"], UnknownNameError, ["no-such-data", "synthetic", "openi"]),
    ("model", ["--model", "no-such-model"], UnknownNameError, ["no-such-model", "minilm-l6", "smollm2-135m"]),
    ("method", ["--methods", "no-such-method"], UnknownNameError, ["no-such-method", "dp-lora", "tfidf"]),
    ("preset", ["--preset", "no-such-preset"], UnknownNameError, ["no-such-preset", "smoke", "default", "paper"]),
    ("epsilon-zero", ["--epsilons", "0"], ValueError, ["epsilon=0", "positive"]),
    ("epsilon-negative", ["--epsilons", "-1"], ValueError, ["epsilon=-1", "positive"]),
    ("epsilon-text", ["--epsilons", "one"], ValueError, ["--epsilons", "'one'", "comma-separated"]),
    ("openi-no-data-dir", ["--dataset", "openi"], ValueError, ["openi", "--data-dir"]),
    ("odd-references", ["--reference-models", "3"], ValueError, ["reference_models=3", "even number"]),
    ("max-pool-tiny", ["--max-pool", "2"], ValueError, ["max_pool=2", "at least 4"]),
    ("max-pool-text", ["--max-pool", "many"], ValueError, ["--max-pool 'many'", "'all'"]),
]


@pytest.mark.parametrize(("text", "expected"), [("800", 800), ("all", None), ("ALL", None)])
def test_max_pool_flag_sets_audit_cap(text, expected):
    _, configs = _build(["--max-pool", text])

    assert configs
    assert all(config.audit.max_pool == expected for config in configs)


def test_preset_max_pool_kept_without_flag():
    preset, configs = _build([])

    assert all(config.audit.max_pool == preset.audit.max_pool for config in configs)
    assert preset.audit.max_pool == 400


@pytest.mark.parametrize(
    ("argv", "expected"), [(case[1], case[3]) for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_main_bad_input_exits_2(argv, expected, tmp_path, capsys):
    code, stderr = _run_main(argv, tmp_path, capsys)

    assert code == 2
    for part in expected:
        assert part in stderr
    assert REPORT_TEXT_MARKER not in stderr


@pytest.mark.parametrize(
    ("argv", "error", "expected"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_build_grid_bad_input_raises(argv, error, expected):
    with pytest.raises(error) as raised:
        _build(argv)

    for part in expected:
        assert part in str(raised.value)
    assert REPORT_TEXT_MARKER not in str(raised.value)


def test_missing_data_dir_exits_2(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"

    code, stderr = _run_main(["--dataset", "openi", "--data-dir", str(missing)], tmp_path / "out", capsys)

    assert code == 2
    assert str(missing) in stderr
    assert "does not exist" in stderr
    assert "openi" in stderr
    assert REPORT_TEXT_MARKER not in stderr


def test_build_grid_missing_data_dir(tmp_path):
    missing = tmp_path / "no-such-folder"

    with pytest.raises(FileNotFoundError) as raised:
        _build(["--dataset", "openi", "--data-dir", str(missing)])

    assert str(missing) in str(raised.value)
    assert "--data-dir" in str(raised.value)


def test_delta_above_one_over_n():
    privacy = PrivacyOptions(epsilon=1, delta=0.5)

    with pytest.raises(ValueError) as raised:
        privacy.resolve_delta(100)

    message = str(raised.value)
    assert "delta=0.5" in message
    assert "N=100" in message
    assert "smaller delta" in message
    assert REPORT_TEXT_MARKER not in message


def test_smoke_dry_run_logs_plan(tmp_path, capsys):
    code, stderr = _run_main(["--preset", "smoke"], tmp_path, capsys)

    assert code == 0
    assert "sweep plan:" in stderr
    assert "'smoke'" in stderr
    assert not (tmp_path / "sweep.json").exists()
    assert not (tmp_path / "sweep.log").exists()


def test_cost_estimate_flags_changed_grid():
    preset, shipped = _build(["--preset", "smoke"])
    _, resized = _build(["--preset", "smoke", "--epochs", "8"])
    _, rebudgeted = _build(["--preset", "smoke", "--epsilons", "1"])

    assert preset.cost_hint in bench.run.describe_cost(preset, shipped)
    assert "as shipped" not in bench.run.describe_cost(preset, shipped)
    assert "its time differs" in bench.run.describe_cost(preset, resized)
    assert "its time differs" in bench.run.describe_cost(preset, rebudgeted)


def test_default_grid_has_five_runs():
    preset, configs = _build(["--preset", "default"])
    runs = [(c.method, c.privacy.epsilon if c.privacy else None) for c in configs]

    assert preset.name == "default"
    assert len(configs) == 5
    assert set(runs) == {("tfidf", None), ("full", None), ("lora", None), ("dp-lora", 1.0), ("dp-lora", 10.0)}


def test_default_grid_privacy_per_method():
    _, configs = _build(["--preset", "default"])

    for config in configs:
        if config.method == "dp-lora":
            assert isinstance(config.privacy, PrivacyOptions), config.run_id()
        else:
            assert config.privacy is None, config.run_id()


def test_batch_larger_than_members(tmp_path):
    from bench.pipeline import run_one

    config = RunConfig(
        dataset="synthetic",
        model="minilm-l6",
        method="tfidf",
        dataset_options=DatasetOptions(synthetic_reports=60),
        train=TrainOptions(batch_size=512),
        audit=AuditOptions(enabled=False),
    )

    with pytest.raises(ValueError) as raised:
        run_one(config, tmp_path, progress=False)

    message = str(raised.value)
    assert "batch size 512" in message
    assert "--batch-size" in message
    assert REPORT_TEXT_MARKER not in message


def test_preset_changes_per_method():
    _, configs = _build(["--preset", "default"])
    by_method = {config.method: config.train for config in configs}

    assert by_method["dp-lora"].batch_size == 64
    assert by_method["dp-lora"].max_grad_norm == 0.1
    assert by_method["lora"].batch_size == 16
    assert by_method["full"].learning_rate == 1e-4


def test_batch_flag_overrides_every_method():
    _, configs = _build(["--preset", "default", "--batch-size", "8", "--max-grad-norm", "0.5"])

    for config in configs:
        assert config.train.batch_size == 8, config.method
        assert config.train.physical_batch_size == 8, config.method
        assert config.train.max_grad_norm == 0.5, config.method
