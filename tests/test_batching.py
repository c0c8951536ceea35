"""Tests of length-bucketed batches for non-private training."""

from __future__ import annotations

import numpy as np
import torch

from baselines.neural import bucketed_batches


def _padding_share(batches, lengths):
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    return 1.0 - lengths.sum() / padded


def test_every_report_once_per_epoch():
    lengths = np.random.default_rng(0).integers(5, 200, size=1003)

    batches = bucketed_batches(lengths, 16, torch.Generator().manual_seed(0))

    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(1003))
    assert all(1 <= len(batch) <= 16 for batch in batches)


def test_buckets_pad_less_than_random_batches():
    lengths = np.random.default_rng(1).integers(5, 200, size=2000)
    generator = torch.Generator().manual_seed(0)
    permutation = torch.randperm(2000, generator=generator).tolist()
    random_batches = [permutation[i : i + 16] for i in range(0, 2000, 16)]

    bucketed = bucketed_batches(lengths, 16, torch.Generator().manual_seed(0))

    assert _padding_share(bucketed, lengths) < 0.5 * _padding_share(random_batches, lengths)


def test_batches_seeded_and_shuffled():
    lengths = np.random.default_rng(2).integers(5, 200, size=640)

    first = bucketed_batches(lengths, 8, torch.Generator().manual_seed(3))
    second = bucketed_batches(lengths, 8, torch.Generator().manual_seed(3))
    other = bucketed_batches(lengths, 8, torch.Generator().manual_seed(4))
    longest = [max(lengths[i] for i in batch) for batch in first]

    assert first == second
    assert first != other
    # Sorted batches would make the longest lengths rise monotonically; shuffled ones do not.
    assert longest != sorted(longest)


def _poisson_sampler(seed: int, num_samples: int = 500, sample_rate: float = 0.1):
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    return UniformWithReplacementSampler(
        num_samples=num_samples, sample_rate=sample_rate, generator=torch.Generator().manual_seed(seed), steps=40
    )


def test_sorted_batches_keep_reports():
    from baselines.dp_lora import length_sorted_poisson_sampler

    lengths = np.random.default_rng(3).integers(5, 200, size=500)

    plain = list(_poisson_sampler(7))
    ordered = list(length_sorted_poisson_sampler(_poisson_sampler(7), lengths))

    assert len(plain) == len(ordered) == 40
    assert len({len(batch) for batch in plain}) > 1, "Poisson batch sizes should vary"
    for drawn, sorted_batch in zip(plain, ordered):
        assert sorted(drawn) == sorted(sorted_batch)
        assert list(lengths[sorted_batch]) == sorted(lengths[sorted_batch], reverse=True)


def test_sorted_batches_pad_less():
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    from baselines.dp_lora import length_sorted_poisson_sampler

    lengths = np.random.default_rng(4).integers(5, 200, size=500)
    ordered = length_sorted_poisson_sampler(_poisson_sampler(8), lengths)

    def padding_share(batches):
        chunks = [batch[i : i + 8] for batch in batches for i in range(0, len(batch), 8)]
        padded = sum(len(chunk) * lengths[chunk].max() for chunk in chunks)
        return 1.0 - sum(lengths[chunk].sum() for chunk in chunks) / padded

    assert isinstance(ordered, UniformWithReplacementSampler), "BatchMemoryManager sizes its loader by this class"
    assert padding_share(list(ordered)) < 0.5 * padding_share(list(_poisson_sampler(8)))
