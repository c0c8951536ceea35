"""The training loop, prediction and checkpointing shared by every transformer runner."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.config import TrainOptions
from bench.data import PadCollator, TokenizedReports, tokenize_corpus
from bench.records import Corpus

logger = logging.getLogger(__name__)


def masked_bce_per_sample(logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor) -> torch.Tensor:
    """Return the multi-label loss per report, shape [batch]: mean BCE over the scored labels."""
    cells = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    scored = label_mask.sum(dim=1).clamp(min=1.0)
    return (cells * label_mask).sum(dim=1) / scored


def select_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class PeakMemory:
    """Peak memory during a block: CUDA allocator peak on GPU, sampled resident set size on CPU.

    On CPU the resident set size is sampled every 20 ms in a thread, so a peak shorter than that
    can be missed; the figure is an estimate of the process peak, in MiB.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = 0.0
        self.baseline_mb = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline_mb = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            import psutil

            process = psutil.Process()
            self.baseline_mb = process.memory_info().rss / 2**20
            self.peak_mb = self.baseline_mb

            def sample() -> None:
                while not self._stop.wait(0.02):
                    self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()


class NeuralPredictor:
    """A fine-tuned transformer classifier with its tokenizer."""

    def __init__(self, model, tokenizer, label_names: tuple[str, ...], max_length: int, *, save_adapter_only: bool) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.label_names = tuple(label_names)
        self.max_length = max_length
        self.save_adapter_only = save_adapter_only

    @torch.no_grad()
    def predict_logits(self, corpus: Corpus, *, progress: bool = False, batch_size: int = 64) -> np.ndarray:
        """Return float32 logits [len(corpus), num_labels] in corpus order.

        Runs in eval mode without gradients; reports are batched by length so padding stays small.
        """
        if tuple(corpus.label_names) != self.label_names:
            raise ValueError(
                f"the corpus label set ({len(corpus.label_names)} labels) differs from the checkpoint's "
                f"({len(self.label_names)} labels); evaluate with the dataset the model was trained on."
            )
        dataset = TokenizedReports(tokenize_corpus(corpus, self.tokenizer, self.max_length))
        order = np.argsort(dataset.lengths(), kind="stable")
        collate = PadCollator(self.tokenizer.pad_token_id)
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        logits = np.zeros((len(dataset), len(self.label_names)), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="scoring", unit="batch", disable=not progress, leave=False):
            index = order[start : start + batch_size]
            ids, attention, _, _ = collate([dataset[int(i)] for i in index])
            output = self.model(input_ids=ids.to(device), attention_mask=attention.to(device))
            logits[index] = output.logits.float().cpu().numpy()
        self.model.train(was_training)
        return logits

    def save(self, folder: Path) -> list[str]:
        """Write safetensors weights: adapter and head for LoRA, the whole model otherwise."""
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder), safe_serialization=True)
        return sorted(p.name for p in folder.iterdir() if p.suffix == ".safetensors")


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


HEAD_NAMES = ("classifier", "score")


def is_head_parameter(name: str) -> bool:
    """Return whether a parameter belongs to the classification head (``classifier`` or ``score``)."""
    return any(part in HEAD_NAMES for part in name.split("."))


def make_optimizer(model: torch.nn.Module, options: TrainOptions) -> torch.optim.Optimizer:
    """Build AdamW with one group for the head (``head_learning_rate``) and one for the other trainable weights."""
    head = [p for n, p in model.named_parameters() if p.requires_grad and is_head_parameter(n)]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not is_head_parameter(n)]
    groups = [{"params": body, "lr": options.learning_rate}] if body else []
    if head:
        groups.append({"params": head, "lr": options.head_learning_rate or options.learning_rate})
    return torch.optim.AdamW(groups, weight_decay=0.0)


def linear_decay(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / max(1, total_steps)))


def bucketed_batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator, *, window: int = 32) -> list[list[int]]:
    """Return one epoch of logical batches, each holding reports of similar length.

    The reports are shuffled and cut into windows of ``window * batch_size``. Each window is
    sorted by length and cut into batches, and then the batch order is shuffled again. Every
    report appears exactly once per epoch, and a batch pads to a length close to its own
    reports' lengths instead of the longest of a random draw. Only non-private training uses
    this: DP-SGD draws its batches by Poisson sampling, which must stay independent of the data.
    """
    permutation = torch.randperm(len(lengths), generator=generator).tolist()
    span = max(1, window) * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(permutation), span):
        chunk = sorted(permutation[start : start + span], key=lambda index: int(lengths[index]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]


def train_non_private(
    model: torch.nn.Module,
    dataset: TokenizedReports,
    pad_token_id: int,
    options: TrainOptions,
    *,
    progress: bool = True,
) -> dict:
    """Train with logical batches of ``options.batch_size``, accumulated over physical batches.

    With ``options.bucket_by_length`` the batches come from :func:`bucketed_batches`, otherwise
    from a plain shuffle.
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(options.seed)
    total_steps = max(1, math.ceil(options.epochs * len(dataset) / options.batch_size))
    optimizer = make_optimizer(model, options)
    scheduler = linear_decay(optimizer, total_steps)
    collate = PadCollator(pad_token_id)
    lengths = dataset.lengths()
    model.train()

    steps = 0
    samples = 0
    tokens = 0
    padded = 0
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress, leave=False)
    while steps < total_steps:
        if options.bucket_by_length:
            epoch = bucketed_batches(lengths, options.batch_size, generator)
        else:
            permutation = torch.randperm(len(dataset), generator=generator).tolist()
            epoch = [permutation[i : i + options.batch_size] for i in range(0, len(permutation), options.batch_size)]
        for logical in epoch:
            if steps >= total_steps:
                break
            optimizer.zero_grad(set_to_none=True)
            for chunk_start in range(0, len(logical), options.physical_batch_size):
                chunk = logical[chunk_start : chunk_start + options.physical_batch_size]
                ids, attention, labels, label_mask = (t.to(device) for t in collate([dataset[i] for i in chunk]))
                output = model(input_ids=ids, attention_mask=attention)
                loss = masked_bce_per_sample(output.logits, labels, label_mask).sum() / len(logical)
                loss.backward()
                samples += len(chunk)
                tokens += int(attention.sum())
                padded += int(attention.numel())
            optimizer.step()
            scheduler.step()
            steps += 1
            bar.update(1)
    bar.close()
    return {
        "optimizer_steps": steps,
        "samples_seen": samples,
        "tokens_seen": tokens,
        "padding_share": round(1.0 - tokens / padded, 4) if padded else 0.0,
    }
