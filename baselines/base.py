"""The one shape every runner has: ``fit(train, validation, config) -> FitResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from bench.config import RunConfig
from bench.records import Corpus
from bench.registry import Registry


class Predictor(Protocol):
    """A trained classifier over one label set."""

    label_names: tuple[str, ...]

    def predict_logits(self, corpus: Corpus, *, progress: bool = False) -> np.ndarray:
        """Return float32 logits [len(corpus), num_labels]; eval mode, no gradients."""

    def save(self, folder: Path) -> list[str]:
        """Write the trained weights as safetensors into ``folder``; return the file names."""


@dataclass(eq=False)
class FitResult:
    """What a runner returns.

    Attributes:
        predictor: The trained model.
        stats: JSON-serialisable training facts: ``train_seconds``, ``optimizer_steps``,
            ``peak_memory_mb``, ``samples_per_second``, ``trainable_parameters`` and, for DP runs,
            a ``privacy`` dict (epsilon spent, delta, noise multiplier, sample rate, ...).
    """

    predictor: Predictor
    stats: dict = field(default_factory=dict)


class Runner(Protocol):
    """A training method, registered by name in ``METHODS``."""

    name: str
    private: bool

    def fit(self, train: Corpus, validation: Corpus, config: RunConfig, *, progress: bool = True) -> FitResult:
        """Train on ``train``; ``validation`` may only be used for early decisions such as thresholds."""


METHODS: Registry[Runner] = Registry("method")


def register_runner(runner: Runner) -> Runner:
    METHODS.add(runner.name, runner)
    return runner


# Registration happens on import; keep these imports after METHODS is defined.
from baselines import full, lora, dp_lora, tfidf  # noqa: E402,F401
