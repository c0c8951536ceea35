"""Fit a transformer classifier: load, adapt (full, LoRA), train (plainly or with DP-SGD), time and measure."""

from __future__ import annotations

import logging
import time
from typing import Callable

import torch

from baselines.base import FitResult
from baselines.neural import (
    NeuralPredictor,
    PeakMemory,
    select_device,
    train_non_private,
    trainable_parameters,
)
from bench.config import RunConfig
from bench.data import TokenizedReports, tokenize_corpus
from bench.models import load_classifier, resolve_model, resolved_pooling
from bench.records import Corpus

logger = logging.getLogger(__name__)

Adapter = Callable[[torch.nn.Module, "ModelSpec"], torch.nn.Module]  # noqa: F821
Trainer = Callable[..., dict]


def plain_trainer(model: torch.nn.Module, dataset: TokenizedReports, pad_token_id: int, config: RunConfig, *, progress: bool) -> dict:
    """Train without DP; the trainer signature every method shares."""
    return train_non_private(model, dataset, pad_token_id, config.train, progress=progress)


def fit_transformer(
    train: Corpus,
    config: RunConfig,
    *,
    adapt: Adapter,
    trainer: Trainer = plain_trainer,
    adapter_only: bool,
    progress: bool = True,
) -> FitResult:
    """Load ``config.model``, apply ``adapt`` (LoRA or nothing), train it with ``trainer`` on ``train``."""
    torch.manual_seed(config.train.seed)
    spec = resolve_model(config.model)
    model, tokenizer = load_classifier(spec, train.label_names, pooling=config.train.pooling)
    model = adapt(model, spec)
    device = select_device()
    # The model moves to its device before any DP wrapping, so hooks and parameters agree.
    model.to(device)
    dataset = TokenizedReports(tokenize_corpus(train, tokenizer, config.train.max_length, split_name="train"))

    started = time.perf_counter()
    with PeakMemory(device) as memory:
        facts = trainer(model, dataset, tokenizer.pad_token_id, config, progress=progress)
    seconds = time.perf_counter() - started

    model = facts.pop("model", model)
    model.eval()
    stats = {
        "train_seconds": round(seconds, 3),
        "seconds_per_step": round(seconds / max(1, facts["optimizer_steps"]), 4),
        "samples_per_second": round(facts["samples_seen"] / seconds, 2) if seconds > 0 else None,
        "tokens_per_second": round(facts["tokens_seen"] / seconds, 1) if seconds > 0 else None,
        "peak_memory_mb": round(memory.peak_mb, 1),
        "memory_measure": "cuda_max_allocated" if device.type == "cuda" else "process_rss",
        "pooling": resolved_pooling(spec, config.train.pooling),
        "device": device.type,
        "trainable_parameters": trainable_parameters(model),
        "total_parameters": sum(p.numel() for p in model.parameters()),
        **facts,
    }
    predictor = NeuralPredictor(model, tokenizer, train.label_names, config.train.max_length, save_adapter_only=adapter_only)
    return FitResult(predictor=predictor, stats=stats)
