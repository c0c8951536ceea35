"""Hooks and ghost clipping give the same DP-SGD gradient, and both account every step."""

from __future__ import annotations

import copy
import json
import math
import shutil

import pytest
import torch

from baselines.dp_lora import make_private, train_with_plan
from baselines.lora import add_lora
from baselines.neural import masked_bce_per_sample
from bench.config import TrainOptions
from bench.data import PadCollator, TokenizedReports, tokenize_corpus
from bench.models import load_classifier, resolve_model
from tests.conftest import fixed_plan, make_lora_model, make_toy_corpus

MODES = ("hooks", "ghost")
RELATIVE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def no_dropout_bert(tiny_bert_dir, tmp_path_factory):
    """Copy the tiny BERT with dropout off, so repeated forward passes over one batch agree exactly."""
    folder = tmp_path_factory.mktemp("tiny-bert-no-dropout")
    shutil.copytree(tiny_bert_dir, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def lora_setup(no_dropout_bert):
    """Return a LoRA model whose B matrices are non-zero, its tokenized toy corpus and a fixed batch of 8."""
    corpus = make_toy_corpus(32)
    options = TrainOptions(max_length=32)
    torch.manual_seed(0)
    spec = resolve_model(str(no_dropout_bert))
    model, tokenizer = load_classifier(spec, corpus.label_names)
    model = add_lora(model, spec, options)
    # LoRA's B starts at zero, which leaves A without a gradient, so a random B gives every adapter one.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.1)
    dataset = TokenizedReports(tokenize_corpus(corpus, tokenizer, options.max_length))
    collate = PadCollator(tokenizer.pad_token_id)
    batch = collate([dataset[i] for i in range(8)])
    return model, tokenizer, dataset, batch


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {name: param for name, param in model.named_parameters() if param.requires_grad}


def _per_sample_gradients(model: torch.nn.Module, batch) -> list[dict[str, torch.Tensor]]:
    """Reference: one backward pass per report, no Opacus."""
    model = copy.deepcopy(model)
    model.train()
    ids, attention, labels, label_mask = batch
    params = _trainable(model)
    gradients = []
    for i in range(ids.shape[0]):
        model.zero_grad(set_to_none=True)
        output = model(input_ids=ids[i : i + 1], attention_mask=attention[i : i + 1])
        masked_bce_per_sample(output.logits, labels[i : i + 1], label_mask[i : i + 1]).sum().backward()
        gradients.append({name: param.grad.detach().clone() for name, param in params.items()})
    return gradients


def _gradient_norm(gradient: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float((g.double() ** 2).sum()) for g in gradient.values()))


def _clip_and_sum(gradients: list[dict[str, torch.Tensor]], max_grad_norm: float) -> dict[str, torch.Tensor]:
    """Reference: flat clipping with Opacus's factor min(1, C / (norm + 1e-6)), then the sum over reports."""
    total = {name: torch.zeros_like(g, dtype=torch.float64) for name, g in gradients[0].items()}
    for gradient in gradients:
        factor = min(1.0, max_grad_norm / (_gradient_norm(gradient) + 1e-6))
        for name, g in gradient.items():
            total[name] += factor * g.double()
    return total


def _private_gradient(model, dataset, batch, pad_token_id, *, clipping, max_grad_norm, splits=1) -> dict[str, torch.Tensor]:
    """Take one noise-free DP-SGD step with SGD (lr 1) on ``batch``; return the clipped sum it applied.

    ``splits`` > 1 feeds the batch as that many physical batches of one logical batch, the way
    ``BatchMemoryManager`` does: every physical batch but the last signals a skipped step.
    """
    model = copy.deepcopy(model)
    model.train()
    optimizer = torch.optim.SGD(list(_trainable(model).values()), lr=1.0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, collate_fn=PadCollator(pad_token_id))
    private = make_private(model, optimizer, loader, noise_multiplier=0.0, max_grad_norm=max_grad_norm, clipping=clipping)

    ids, attention, labels, label_mask = batch
    chunks = torch.arange(ids.shape[0]).chunk(splits)
    for position, index in enumerate(chunks):
        private.optimizer.signal_skip_step(do_skip=position < len(chunks) - 1)
        output = private.model(input_ids=ids[index], attention_mask=attention[index])
        private.backward(output.logits, labels[index], label_mask[index])
        private.optimizer.step()
        if position < len(chunks) - 1:
            private.optimizer.zero_grad(set_to_none=True)

    # The optimizer divides the noisy sum by the expected batch size; undo that to get the sum.
    scale = private.optimizer.expected_batch_size
    return {name: param.grad.detach().double() * scale for name, param in _trainable(private.model._module).items()}


def _relative_difference(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> float:
    assert left.keys() == right.keys()
    difference = math.sqrt(sum(float(((left[n] - right[n]) ** 2).sum()) for n in left))
    return difference / math.sqrt(sum(float((right[n] ** 2).sum()) for n in right))


def _clipping_norm_that_binds(gradients) -> float:
    """Return a clipping norm between the smallest and largest per-report norm, so some reports are clipped."""
    norms = sorted(_gradient_norm(g) for g in gradients)
    return 0.5 * (norms[len(norms) // 2 - 1] + norms[len(norms) // 2])


def test_reference_clipping_binds_some_reports(lora_setup):
    model, _, _, batch = lora_setup
    gradients = _per_sample_gradients(model, batch)
    norms = [_gradient_norm(g) for g in gradients]
    max_grad_norm = _clipping_norm_that_binds(gradients)

    assert any(norm > max_grad_norm for norm in norms), "no report is clipped, so the test would not test clipping"
    assert any(norm < max_grad_norm for norm in norms), "every report is clipped"
    assert all(norm > 0 for norm in norms)


@pytest.mark.parametrize("clipping", MODES)
def test_clipped_sum_matches_reference(lora_setup, clipping):
    model, tokenizer, dataset, batch = lora_setup
    gradients = _per_sample_gradients(model, batch)
    max_grad_norm = _clipping_norm_that_binds(gradients)
    reference = _clip_and_sum(gradients, max_grad_norm)

    private = _private_gradient(model, dataset, batch, tokenizer.pad_token_id, clipping=clipping, max_grad_norm=max_grad_norm)

    assert _relative_difference(private, reference) < RELATIVE_TOLERANCE


def test_ghost_and_hooks_give_one_gradient(lora_setup):
    model, tokenizer, dataset, batch = lora_setup
    max_grad_norm = _clipping_norm_that_binds(_per_sample_gradients(model, batch))

    hooks = _private_gradient(model, dataset, batch, tokenizer.pad_token_id, clipping="hooks", max_grad_norm=max_grad_norm)
    ghost = _private_gradient(model, dataset, batch, tokenizer.pad_token_id, clipping="ghost", max_grad_norm=max_grad_norm)

    assert _relative_difference(ghost, hooks) < RELATIVE_TOLERANCE


@pytest.mark.parametrize("clipping", MODES)
def test_physical_batches_sum_to_logical(lora_setup, clipping):
    model, tokenizer, dataset, batch = lora_setup
    gradients = _per_sample_gradients(model, batch)
    max_grad_norm = _clipping_norm_that_binds(gradients)
    reference = _clip_and_sum(gradients, max_grad_norm)

    private = _private_gradient(
        model, dataset, batch, tokenizer.pad_token_id, clipping=clipping, max_grad_norm=max_grad_norm, splits=3
    )

    assert _relative_difference(private, reference) < RELATIVE_TOLERANCE


@pytest.mark.parametrize("clipping", MODES)
def test_empty_batches_accounted_per_mode(tiny_bert_dir, clipping):
    corpus = make_toy_corpus(40)
    options = TrainOptions(epochs=1, batch_size=1, physical_batch_size=8, max_length=32, seed=3, dp_clipping=clipping)
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)

    facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, fixed_plan(noise=1.0, steps=30, sample_rate=1 / 40), progress=False)

    assert facts["privacy"]["empty_batches"] > 0
    assert facts["optimizer_steps"] == 30
    assert facts["privacy"]["accountant_steps"] == 30
    assert facts["privacy"]["clipping"] == clipping


@pytest.mark.parametrize("clipping", MODES)
def test_split_batches_accounted_per_mode(tiny_bert_dir, clipping):
    corpus = make_toy_corpus(96)
    options = TrainOptions(epochs=1, batch_size=24, physical_batch_size=4, max_length=32, dp_clipping=clipping)
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)

    facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, fixed_plan(noise=1.0, steps=5, sample_rate=0.25), progress=False)

    assert facts["optimizer_steps"] == 5
    assert facts["privacy"]["accountant_steps"] == 5


def test_ghost_training_moves_only_trainable(tiny_bert_dir):
    corpus = make_toy_corpus(64)
    options = TrainOptions(epochs=1, batch_size=32, physical_batch_size=32, max_length=32, learning_rate=1e-2, dp_clipping="ghost")
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}

    facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, fixed_plan(noise=0.0, steps=2, sample_rate=0.5), progress=False)
    after = dict(facts["model"].named_parameters())

    for name in trainable:
        assert not torch.equal(before[name], after[name].detach()), f"{name} did not change"
    for name in set(before) - trainable:
        assert torch.equal(before[name], after[name].detach()), f"frozen {name} changed"


def test_invalid_clipping_mode_raises():
    with pytest.raises(ValueError, match="dp_clipping='fast' is invalid"):
        TrainOptions(dp_clipping="fast")
