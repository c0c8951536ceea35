"""Tokenization through ``datasets`` with an on-disk cache, and dynamic-padding batches."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from bench.records import Corpus

logger = logging.getLogger(__name__)

COLUMNS = ("input_ids", "attention_mask", "labels", "label_mask")


def cache_root() -> Path:
    """Return the local cache folder (``DPBENCH_CACHE`` or ``~/.cache/dp-radiology-bench``).

    The token cache encodes report text, so it stays on this machine and outside the results folder.
    """
    return Path(os.environ.get("DPBENCH_CACHE", Path.home() / ".cache" / "dp-radiology-bench"))


def tokenize_corpus(corpus: Corpus, tokenizer, max_length: int, *, split_name: str = "") -> "datasets.Dataset":
    """Tokenize ``corpus`` into a ``datasets.Dataset`` with the columns in ``COLUMNS``.

    Texts put the impression first, so truncating the tail keeps it. The result is cached on
    disk by corpus fingerprint, tokenizer and ``max_length``; the share of truncated reports is logged.
    """
    import datasets

    datasets.disable_progress_bars()
    key = hashlib.sha256(
        f"{corpus.fingerprint()}|{tokenizer.name_or_path}|{len(tokenizer)}|{max_length}".encode()
    ).hexdigest()[:20]
    folder = cache_root() / "tokens" / key
    if (folder / "dataset_info.json").is_file():
        dataset = datasets.load_from_disk(str(folder))
    else:
        raw = datasets.Dataset.from_dict(
            {
                "text": corpus.texts(),
                "labels": corpus.label_matrix().tolist(),
                "label_mask": corpus.mask_matrix().tolist(),
            }
        )
        dataset = raw.map(
            lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
            batched=True,
            remove_columns=["text"],
        )
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        dataset.save_to_disk(str(tmp))
        if folder.exists():
            # Another process wrote the same cache entry first; both hold the same tokens.
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
        dataset = datasets.load_from_disk(str(folder))
    lengths = np.array([len(ids) for ids in dataset["input_ids"]])
    truncated = float(np.mean(lengths >= max_length)) if len(lengths) else 0.0
    logger.info(
        "tokenized %d reports%s: mean %.0f tokens, %.1f%% truncated at %d",
        len(dataset), f" ({split_name})" if split_name else "", lengths.mean() if len(lengths) else 0, 100 * truncated, max_length,
    )
    dataset = dataset.select_columns(list(COLUMNS))
    dataset.truncated_share = truncated
    return dataset


class TokenizedReports(torch.utils.data.Dataset):
    """Map-style view of a tokenized dataset that yields one tuple of tensors per report."""

    def __init__(self, dataset) -> None:
        self.input_ids = [torch.tensor(x, dtype=torch.long) for x in dataset["input_ids"]]
        self.attention_mask = [torch.tensor(x, dtype=torch.long) for x in dataset["attention_mask"]]
        self.labels = torch.tensor(np.asarray(dataset["labels"], dtype=np.float32))
        self.label_mask = torch.tensor(np.asarray(dataset["label_mask"], dtype=np.float32))

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int):
        return self.input_ids[index], self.attention_mask[index], self.labels[index], self.label_mask[index]

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.input_ids])


class PadCollator:
    """Pad a list of examples to the longest one in the batch (dynamic padding)."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, examples: Sequence[tuple]) -> tuple[torch.Tensor, ...]:
        input_ids, attention, labels, label_mask = zip(*examples)
        ids = torch.nn.utils.rnn.pad_sequence(list(input_ids), batch_first=True, padding_value=self.pad_token_id)
        attn = torch.nn.utils.rnn.pad_sequence(list(attention), batch_first=True, padding_value=0)
        return ids, attn, torch.stack(labels), torch.stack(label_mask)
