"""Invariants a DP-LoRA guarantee rests on: what trains, what stays frozen, sampling and accounting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.dp_lora import train_with_plan
from baselines.privacy import plan_privacy, spent_epsilon
from bench.config import TrainOptions
from tests.conftest import fixed_plan, make_lora_model, make_toy_corpus


def test_noise_free_step_updates_only_trainable(tiny_bert_dir):
    corpus = make_toy_corpus(64)
    options = TrainOptions(epochs=1, batch_size=32, physical_batch_size=32, max_length=32, learning_rate=1e-2)
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}

    facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, fixed_plan(noise=0.0, steps=1, sample_rate=0.5), progress=False)
    after = dict(facts["model"].named_parameters())

    lora_names = {n for n in trainable if "lora_" in n}
    head_names = {n for n in trainable if "classifier" in n}
    assert lora_names, "LoRA adapters must be trainable"
    assert head_names, "the classification head must be trainable"
    lora_b = {n for n in lora_names if "lora_B" in n}
    for name in lora_b | head_names:
        assert not torch.equal(before[name], after[name].detach()), f"{name} did not change"
    for name in set(before) - trainable:
        assert torch.equal(before[name], after[name].detach()), f"frozen {name} changed"
    assert facts["optimizer_steps"] == 1


def test_every_lora_tensor_changes_in_two_steps(tiny_bert_dir):
    # LoRA's B starts at zero, so A only gets a gradient once B has moved: after two steps both have.
    corpus = make_toy_corpus(64)
    options = TrainOptions(epochs=1, batch_size=32, physical_batch_size=32, max_length=32, learning_rate=1e-2)
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
    before = {name: p.detach().clone() for name, p in model.named_parameters() if "lora_" in name}

    facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, fixed_plan(noise=0.0, steps=2, sample_rate=0.5), progress=False)
    after = dict(facts["model"].named_parameters())

    for name, value in before.items():
        assert not torch.equal(value, after[name].detach()), f"{name} did not change"


def test_model_in_training_mode_on_its_device(tiny_bert_dir):
    corpus = make_toy_corpus(40)
    options = TrainOptions(epochs=1, batch_size=20, physical_batch_size=20, max_length=32)
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
    seen = {}

    def record(module, args, kwargs):
        seen["training"] = module.training
        seen["device"] = next(module.parameters()).device.type

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    train_with_plan(model, dataset, tokenizer.pad_token_id, options, fixed_plan(noise=1.0, steps=1, sample_rate=0.5), progress=False)
    handle.remove()

    assert seen["training"] is True
    assert seen["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("physical", [4, 16, 64])
def test_accountant_steps_equal_optimizer_steps(tiny_bert_dir, physical):
    corpus = make_toy_corpus(96)
    options = TrainOptions(epochs=1, batch_size=24, physical_batch_size=physical, max_length=32)
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
    plan = fixed_plan(noise=1.0, steps=5, sample_rate=0.25)

    facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, plan, progress=False)

    assert facts["optimizer_steps"] == 5
    assert facts["privacy"]["accountant_steps"] == 5
    assert facts["privacy"]["sampling"] == "poisson"


def test_empty_poisson_batches_still_step(tiny_bert_dir):
    corpus = make_toy_corpus(40)
    options = TrainOptions(epochs=1, batch_size=1, physical_batch_size=8, max_length=32, seed=3)
    model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
    plan = fixed_plan(noise=1.0, steps=30, sample_rate=1 / 40)

    facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, plan, progress=False)

    assert facts["privacy"]["empty_batches"] > 0
    assert facts["optimizer_steps"] == 30
    assert facts["privacy"]["accountant_steps"] == 30


def test_poisson_batch_sizes_vary(tiny_bert_dir):
    from opacus.data_loader import DPDataLoader
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    corpus = make_toy_corpus(200)
    options = TrainOptions(max_length=32)
    _, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
    base = torch.utils.data.DataLoader(dataset, batch_size=20)
    loader = DPDataLoader.from_data_loader(base, generator=torch.Generator().manual_seed(0))
    sizes = [len(indices) for indices in loader.batch_sampler]

    assert isinstance(loader.batch_sampler, UniformWithReplacementSampler)
    assert len(set(sizes)) > 1


@pytest.mark.parametrize("epsilon", [1.0, 3.0, 10.0])
@pytest.mark.parametrize("num_train,batch_size", [(1000, 10), (1000, 64), (5000, 256), (300, 100)])
def test_spent_epsilon_within_target(epsilon, num_train, batch_size):
    plan = plan_privacy(target_epsilon=epsilon, delta=1 / (10 * num_train), num_train=num_train, batch_size=batch_size, epochs=3)

    spent = spent_epsilon(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate, steps=plan.steps, delta=plan.delta)

    assert spent <= epsilon
    assert spent > 0.9 * epsilon, "the noise is over-calibrated: utility is lost for nothing"


def test_prv_estimate_not_above_rdp():
    plan = plan_privacy(target_epsilon=3.0, delta=1e-5, num_train=10000, batch_size=100, epochs=2)
    kwargs = dict(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate, steps=plan.steps, delta=plan.delta)

    assert spent_epsilon(accountant="prv", **kwargs) <= spent_epsilon(accountant="rdp", **kwargs) + 1e-6


def test_rdp_matches_gaussian_closed_form():
    # Without subsampling (q = 1) the Gaussian mechanism has RDP alpha * T / (2 sigma^2) at order
    # alpha (Mironov, 2017, Proposition 7). The conversion to (epsilon, delta) below is the one of
    # Balle et al. (2020, Theorem 21), minimised over the same orders Opacus uses.
    sigma, steps, delta = 2.0, 4, 1e-5
    orders = np.array([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)), dtype=float)
    rdp = orders * steps / (2 * sigma**2)
    reference = np.min(rdp + np.log((orders - 1) / orders) - (np.log(delta) + np.log(orders)) / (orders - 1))

    value = spent_epsilon(noise_multiplier=sigma, sample_rate=1.0, steps=steps, delta=delta)

    assert value == pytest.approx(reference, rel=1e-6)


def test_plan_rejects_batch_larger_than_data():
    with pytest.raises(ValueError, match="exceeds the 50 training reports"):
        plan_privacy(target_epsilon=1.0, delta=1e-3, num_train=50, batch_size=64, epochs=1)


def test_plan_rejects_delta_at_one_over_n():
    with pytest.raises(ValueError, match="delta=0.01"):
        plan_privacy(target_epsilon=1.0, delta=0.01, num_train=100, batch_size=10, epochs=1)


def test_seeded_training_repeats_exactly(tiny_bert_dir):
    corpus = make_toy_corpus(48)
    options = TrainOptions(epochs=1, batch_size=16, physical_batch_size=16, max_length=32, seed=5)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model, tokenizer, dataset = make_lora_model(tiny_bert_dir, corpus, options)
        facts = train_with_plan(model, dataset, tokenizer.pad_token_id, options, fixed_plan(noise=0.0, steps=2, sample_rate=1 / 3), progress=False)
        results.append(np.concatenate([p.detach().numpy().ravel() for n, p in facts["model"].named_parameters() if p.requires_grad]))

    assert np.array_equal(results[0], results[1])
