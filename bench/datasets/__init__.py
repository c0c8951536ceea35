"""Dataset adapters: each turns a source layout into a ``Corpus`` over its named label set.

An adapter is a function ``(data_dir, options) -> Corpus`` registered under a name. Importing
this package registers the built-in adapters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from bench.config import DatasetOptions
from bench.records import Corpus
from bench.registry import Registry

Adapter = Callable[[Optional[Path], DatasetOptions], Corpus]

DATASETS: Registry[Adapter] = Registry("dataset")


def load_corpus(name: str, data_dir: Optional[str | Path], options: Optional[DatasetOptions] = None) -> Corpus:
    """Load the dataset registered as ``name`` from ``data_dir`` with ``options``."""
    adapter = DATASETS.get(name)
    path = Path(data_dir).expanduser() if data_dir is not None else None
    return adapter(path, options or DatasetOptions())


# Registration happens on import; keep these imports after DATASETS is defined.
from bench.datasets import synthetic, openi, mimic_cxr, ct_rate, csv_table  # noqa: E402,F401
