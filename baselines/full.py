"""Full fine-tuning: every weight of the model and the head trains, without DP."""

from __future__ import annotations

from baselines.base import FitResult, register_runner
from baselines.transformer import fit_transformer
from bench.config import RunConfig
from bench.records import Corpus


class FullFineTuning:
    name = "full"
    private = False

    def fit(self, train: Corpus, validation: Corpus, config: RunConfig, *, progress: bool = True) -> FitResult:
        return fit_transformer(train, config, adapt=lambda model, spec: model, adapter_only=False, progress=progress)


register_runner(FullFineTuning())
