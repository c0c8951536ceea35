"""LoRA (peft): low-rank adapters on the attention projections plus a trainable head, without DP."""

from __future__ import annotations

import torch

from baselines.base import FitResult, register_runner
from baselines.transformer import fit_transformer
from bench.config import RunConfig, TrainOptions
from bench.models import ModelSpec
from bench.records import Corpus


def add_lora(model: torch.nn.Module, spec: ModelSpec, options: TrainOptions) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters; only the adapters and the classification head train."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=options.lora_r,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=list(spec.lora_targets),
        bias="none",
    )
    return get_peft_model(model, config)


class LoRA:
    name = "lora"
    private = False

    def fit(self, train: Corpus, validation: Corpus, config: RunConfig, *, progress: bool = True) -> FitResult:
        return fit_transformer(
            train,
            config,
            adapt=lambda model, spec: add_lora(model, spec, config.train),
            adapter_only=True,
            progress=progress,
        )


register_runner(LoRA())
