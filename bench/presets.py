"""Named sweeps: which datasets, models, methods, budgets and seeds, and at what size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.config import AuditOptions, DatasetOptions, SplitOptions, TrainOptions
from bench.registry import Registry


@dataclass(frozen=True, kw_only=True)
class Preset:
    """A sweep grid with the options every run of it shares.

    Attributes:
        description: One line for ``--help`` and the cost estimate.
        methods: Registered method names; private methods run once per epsilon.
        epsilons: Target epsilons of the private methods.
        seeds: Training seeds; each one gives a separate run.
        per_method: Per-method changes to ``train``, for example ``{"full": {"learning_rate":
            1e-4}}``: full fine-tuning needs a far smaller rate than LoRA, whose few weights start
            at zero, and DP-SGD needs larger batches than plain training, because the noise it
            adds to each step's summed gradient is divided by the batch size.
        cost_hint: Measured or estimated wall time on the stated hardware.
    """

    name: str
    description: str
    dataset: str = "synthetic"
    model: str = "minilm-l6"
    methods: tuple[str, ...] = ("tfidf", "full", "lora", "dp-lora")
    epsilons: tuple[float, ...] = (1.0, 10.0)
    seeds: tuple[int, ...] = (0,)
    dataset_options: DatasetOptions = field(default_factory=DatasetOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    audit: AuditOptions = field(default_factory=AuditOptions)
    per_method: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"full": {"learning_rate": 1e-4}})
    cost_hint: str = ""

    def train_for(self, method: str) -> TrainOptions:
        """Return ``train`` with the method's changes from ``per_method`` applied."""
        return dataclasses.replace(self.train, **self.per_method.get(method, {}))

    def learning_rate(self, method: str) -> float:
        """Return the method's learning rate: its override, else ``train.learning_rate``."""
        return self.train_for(method).learning_rate


PRESETS: Registry[Preset] = Registry("preset")

# DP-SGD adds noise of standard deviation sigma * C to each step's summed gradient, so a larger
# logical batch raises the signal-to-noise ratio. A clipping norm below the typical per-report
# gradient norm (about 0.3 for MiniLM with a fresh head) makes every report's contribution equal.
# On Open-i at epsilon 10 this setting reached weighted F1 0.37 to 0.43 (two runs that differed
# only in the order of reports inside each batch), where batch 128 with C = 1 reached 0.26 (3
# epochs each). Six epochs gained about 0.05 at twice the cost, so the presets keep three.
DP_LORA_CHANGES = {"batch_size": 64, "physical_batch_size": 32, "max_grad_norm": 0.1, "head_learning_rate": 2e-2}
SMALL_PER_METHOD = {"full": {"learning_rate": 1e-4}, "dp-lora": DP_LORA_CHANGES}

PRESETS.add(
    "smoke",
    Preset(
        name="smoke",
        description="CI check: a small synthetic corpus, every method, DP-LoRA at epsilon 10, the audit",
        epsilons=(10.0,),
        dataset_options=DatasetOptions(synthetic_reports=400),
        train=TrainOptions(epochs=4.0, batch_size=16, physical_batch_size=16, max_length=96, learning_rate=2e-3, head_learning_rate=1e-2),
        audit=AuditOptions(reference_models=2, max_pool=200, exposure_canaries=1, canary_candidates=200, one_run_canaries=32),
        per_method=SMALL_PER_METHOD,
        cost_hint="about 3 minutes on 2 idle CPU cores",
    ),
)
PRESETS.add(
    "default",
    Preset(
        name="default",
        description="embedded default: synthetic chest X-ray reports, MiniLM, all methods, DP-LoRA at epsilon 1 and 10, the audit",
        epsilons=(1.0, 10.0),
        dataset_options=DatasetOptions(synthetic_reports=1200),
        train=TrainOptions(epochs=3.0, batch_size=16, physical_batch_size=16, max_length=128, learning_rate=2e-3, head_learning_rate=1e-2),
        audit=AuditOptions(
            reference_models=4,
            max_pool=400,
            attacks=("loss", "reference", "rmia", "lira-offline", "lira-online", "blind"),
            exposure_canaries=1,
            canary_candidates=500,
            one_run_canaries=64,
        ),
        per_method=SMALL_PER_METHOD,
        cost_hint="about 12 minutes on 2 idle CPU cores",
    ),
)
PRESETS.add(
    "paper",
    Preset(
        name="paper",
        description="the reference study's grid: epsilon 0.01, 0.1, 1 and 10, three seeds, sized for a GPU",
        epsilons=(0.01, 0.1, 1.0, 10.0),
        seeds=(0, 1, 2),
        dataset_options=DatasetOptions(synthetic_reports=20000),
        train=TrainOptions(epochs=5.0, batch_size=256, physical_batch_size=64, max_length=256, learning_rate=2e-3, head_learning_rate=1e-2),
        audit=AuditOptions(
            reference_models=4,
            attacks=("loss", "reference", "rmia", "lira-offline", "lira-online", "blind"),
            exposure_canaries=8,
            canary_candidates=1000,
            one_run_canaries=1000,
        ),
        per_method={
            "full": {"learning_rate": 1e-4},
            "dp-lora": {**DP_LORA_CHANGES, "batch_size": 1024, "physical_batch_size": 64},
        },
        cost_hint="days on 2 CPU cores (an estimate; never run end to end); sized for one GPU",
    ),
)
