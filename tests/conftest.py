"""Shared test fixtures: a tiny local BERT checkpoint and a toy corpus, so runner tests stay fast."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory) -> Path:
    """Point the token cache at a temporary folder so tests never reuse a developer's cache."""
    folder = tmp_path_factory.mktemp("dpbench-cache")
    os.environ["DPBENCH_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """Write a randomly initialised 2-layer BERT with MiniLM's tokenizer; returns its folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from bench.models import MODELS

    folder = tmp_path_factory.mktemp("tiny-bert")
    source = MODELS.get("minilm-l6").locate()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128
    )
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    return folder


def make_toy_corpus(n: int = 120, seed: int = 0, name: str = "toy"):
    """Return a corpus of ``n`` short texts whose three labels are stated by keywords."""
    from bench.records import Corpus, Report

    rng = np.random.default_rng(seed)
    words = ["effusion", "cardiomegaly", "edema"]
    reports = []
    for i in range(n):
        labels = (rng.random(3) < 0.35).astype(np.float32)
        found = [w for w, on in zip(words, labels) if on] or ["clear lungs"]
        text = f"IMPRESSION: {' and '.join(found)} noted in study {i}."
        reports.append(Report(f"r{i}", f"p{i // 2}", text, labels, np.ones(3, dtype=np.float32)))
    return Corpus(name, ("Effusion", "Cardiomegaly", "Edema"), reports)


@pytest.fixture
def toy_corpus():
    return make_toy_corpus()


def make_lora_model(folder: Path, corpus, options):
    """Load the checkpoint in ``folder`` as a LoRA classifier for ``corpus``; return it, its tokenizer and the tokenized corpus."""
    from baselines.lora import add_lora
    from bench.data import TokenizedReports, tokenize_corpus
    from bench.models import load_classifier, resolve_model

    spec = resolve_model(str(folder))
    model, tokenizer = load_classifier(spec, corpus.label_names)
    model = add_lora(model, spec, options)
    dataset = TokenizedReports(tokenize_corpus(corpus, tokenizer, options.max_length))
    return model, tokenizer, dataset


def fixed_plan(*, noise: float, steps: int, sample_rate: float):
    """Return a DP-SGD plan with a given noise multiplier, steps and sample rate, and no epsilon target."""
    import math

    from baselines.privacy import PrivacyPlan

    return PrivacyPlan(target_epsilon=math.inf, delta=1e-5, sample_rate=sample_rate, steps=steps, noise_multiplier=noise)
