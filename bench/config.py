"""Validated configuration dataclasses: one ``RunConfig`` describes one trained and audited run.

Every cross-field check lives in ``__post_init__``, so a config that exists is a config that
can run. Privacy arguments are keyword-only, so epsilon and delta cannot be swapped by position.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

UncertainPolicy = Literal["ones", "zeros", "mask"]
UNCERTAIN_POLICIES: tuple[str, ...] = ("ones", "zeros", "mask")
ClippingMode = Literal["hooks", "ghost"]
CLIPPING_MODES: tuple[str, ...] = ("hooks", "ghost")
# A canary secret has 9 digits and no leading zero, so at most 9 * 10**8 distinct candidates exist.
MAX_CANARY_CANDIDATES = 9 * 10**8


@dataclass(frozen=True, kw_only=True)
class DatasetOptions:
    """How a dataset adapter reads its source.

    Attributes:
        uncertain_policy: What a label marked uncertain (-1.0 in CheXpert files) becomes:
            ``"ones"`` positive, ``"zeros"`` negative, ``"mask"`` excluded from loss and metrics.
        synthetic_reports: Number of reports the ``synthetic`` generator writes.
        synthetic_seed: Seed of the ``synthetic`` generator; equal seeds give equal corpora.
        label_noise: Probability that the ``synthetic`` generator flips each stored label.
        text_column: Name of the text column for the ``csv`` adapter.
        label_columns: Names of the 0/1 label columns for the ``csv`` adapter.
        id_column: Optional report id column for the ``csv`` adapter (row number otherwise).
        patient_column: Optional patient id column for the ``csv`` adapter (report id otherwise).
        max_reports: Keep at most this many reports (a seeded sample), or all when ``None``.
    """

    uncertain_policy: UncertainPolicy = "mask"
    synthetic_reports: int = 1200
    synthetic_seed: int = 0
    label_noise: float = 0.0
    text_column: str = "text"
    label_columns: tuple[str, ...] = ()
    id_column: Optional[str] = None
    patient_column: Optional[str] = None
    max_reports: Optional[int] = None

    def __post_init__(self) -> None:
        if self.uncertain_policy not in UNCERTAIN_POLICIES:
            raise ValueError(
                f"uncertain_policy={self.uncertain_policy!r} is invalid; use one of {UNCERTAIN_POLICIES}."
            )
        if self.synthetic_reports < 10:
            raise ValueError(f"synthetic_reports={self.synthetic_reports} is too small; use at least 10.")
        if not 0.0 <= self.label_noise < 0.5:
            raise ValueError(f"label_noise={self.label_noise} is invalid; use a probability in [0, 0.5).")
        if self.max_reports is not None and self.max_reports < 10:
            raise ValueError(f"max_reports={self.max_reports} is too small; use at least 10 or None.")


@dataclass(frozen=True, kw_only=True)
class SplitOptions:
    """Patient-disjoint split of a corpus.

    Test and validation patients are drawn first. The remaining patients form the audit pool:
    a random half of them (``member_fraction``) are members and train the target model, the
    other half are non-members, which no target model trains on.
    """

    test_fraction: float = 0.15
    validation_fraction: float = 0.10
    member_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("test_fraction", "validation_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise ValueError(f"{name}={value} is invalid; use a fraction in (0, 0.5).")
        if self.test_fraction + self.validation_fraction >= 0.8:
            raise ValueError(
                f"test_fraction + validation_fraction = {self.test_fraction + self.validation_fraction} "
                "leaves too few training patients; keep the sum below 0.8."
            )
        if not 0.1 <= self.member_fraction <= 0.9:
            raise ValueError(f"member_fraction={self.member_fraction} is invalid; use a value in [0.1, 0.9].")


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """Hyperparameters shared by every neural runner.

    Attributes:
        epochs: Passes over the training set (expected passes under Poisson sampling).
        batch_size: Logical batch size: the expected batch size under Poisson sampling for DP.
        physical_batch_size: Largest batch that is run through the model at once. Gradients
            are accumulated up to the logical batch, so it changes memory, not results or accounting.
        learning_rate: Peak learning rate of AdamW (linear decay, no warm-up).
        head_learning_rate: Peak learning rate of the freshly initialised classification head, or
            ``None`` for ``learning_rate``. A randomly initialised head needs a far larger rate
            than pretrained weights to leave the label prior within a few hundred steps.
        max_length: Token budget per report; longer reports are truncated from the tail, and the
            impression comes first in every text, so it survives truncation.
        lora_r, lora_alpha, lora_dropout: LoRA rank, scaling numerator and dropout.
        max_grad_norm: Per-sample clipping norm C for DP-SGD.
        dp_clipping: How DP-SGD clips per-sample gradients. ``"hooks"`` stores every per-sample
            gradient of the trainable weights, then clips and sums them. ``"ghost"`` is Opacus's
            ghost clipping: per-sample gradient norms are computed without storing the gradients,
            and a second backward pass sums the clipped gradients. Both give the same update.
        pooling: How the encoder's token states become the head's input: ``"auto"`` (the
            model's own choice in the registry), ``"mean"`` (masked mean over tokens) or
            ``"native"`` (the architecture's own pooler).
        bucket_by_length: Spend less compute on padding. Non-private training groups reports of
            similar token length into the same batch. DP-SGD keeps its Poisson-sampled batches,
            which must not depend on the data, and only orders each one by length before it is
            cut into physical batches.
        threshold_grid: Number of candidate thresholds per label tried on validation data.
        seed: Seed for initialisation, sampling and dropout.
    """

    epochs: float = 3.0
    batch_size: int = 32
    physical_batch_size: int = 32
    learning_rate: float = 5e-4
    head_learning_rate: Optional[float] = None
    max_length: int = 128
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    max_grad_norm: float = 1.0
    dp_clipping: ClippingMode = "hooks"
    pooling: Literal["auto", "mean", "native"] = "auto"
    bucket_by_length: bool = True
    threshold_grid: int = 41
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ValueError(f"epochs={self.epochs} is invalid; use a positive number.")
        if self.batch_size < 1 or self.physical_batch_size < 1:
            raise ValueError(
                f"batch_size={self.batch_size} and physical_batch_size={self.physical_batch_size} "
                "must both be positive integers."
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate={self.learning_rate} is invalid; use a positive number.")
        if self.head_learning_rate is not None and self.head_learning_rate <= 0:
            raise ValueError(f"head_learning_rate={self.head_learning_rate} is invalid; use a positive number or None.")
        if self.max_length < 16:
            raise ValueError(f"max_length={self.max_length} is too short; use at least 16 tokens.")
        if self.lora_r < 1:
            raise ValueError(f"lora_r={self.lora_r} is invalid; use a positive rank.")
        if self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm={self.max_grad_norm} is invalid; use a positive clipping norm.")
        if self.pooling not in ("auto", "mean", "native"):
            raise ValueError(f"pooling={self.pooling!r} is invalid; use 'auto', 'mean' or 'native'.")
        if self.dp_clipping not in CLIPPING_MODES:
            raise ValueError(f"dp_clipping={self.dp_clipping!r} is invalid; use one of {CLIPPING_MODES}.")


@dataclass(frozen=True, kw_only=True)
class PrivacyOptions:
    """Target (epsilon, delta) of a DP run.

    Attributes:
        epsilon: Target epsilon; the calibrated noise keeps the spent epsilon at or below it.
        delta: Target delta; ``None`` picks ``1 / (10 * N)`` for N training reports, which is
            below 1/N, the usual rule of thumb. The choice is written in the results.
        accountant: Accountant used to calibrate the noise and report the spent epsilon.
    """

    epsilon: float
    delta: Optional[float] = None
    accountant: Literal["rdp", "prv"] = "rdp"

    def __post_init__(self) -> None:
        if not (isinstance(self.epsilon, (int, float)) and math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ValueError(f"epsilon={self.epsilon!r} is invalid; use a positive finite number such as 1 or 10.")
        if self.delta is not None and not 0.0 < self.delta < 1.0:
            raise ValueError(f"delta={self.delta!r} is invalid; use a value in (0, 1/N) or leave it unset.")
        if self.accountant not in ("rdp", "prv"):
            raise ValueError(f"accountant={self.accountant!r} is invalid; use 'rdp' or 'prv'.")

    def resolve_delta(self, num_train: int) -> float:
        """Return the delta to use for ``num_train`` training reports, checking delta < 1/N."""
        if num_train < 1:
            raise ValueError("the training set is empty, so no delta can be chosen; add training data.")
        if self.delta is None:
            return 1.0 / (10.0 * num_train)
        if self.delta >= 1.0 / num_train:
            raise ValueError(
                f"delta={self.delta} is not below 1/N = {1.0 / num_train:.3g} for N={num_train} training "
                "reports, so the guarantee would allow leaking a whole report; use a smaller delta or leave it unset."
            )
        return self.delta


@dataclass(frozen=True, kw_only=True)
class AuditOptions:
    """Membership audit settings.

    Attributes:
        enabled: Run the audit on the checkpoint.
        reference_models: Number K of reference models, trained in complementary pairs on halves
            of the audit pool so that every report is OUT for exactly K/2 of them. Must be even.
        attacks: Registered attack names to run.
        max_pool: Cap on the audit pool size (members plus non-members), or ``None`` for all.
        exposure_canaries: Synthetic canaries per entry of ``canary_repeats`` whose exposure
            (Carlini et al., 2019) is measured; 0 disables the exposure test. They are added to
            the target's training data only.
        canary_repeats: Numbers of copies of an exposure canary that the target trains on. Each
            count gets ``exposure_canaries`` canaries.
        canary_candidates: Texts each exposure canary's secret is ranked among, its own included.
        one_run_canaries: Number m of canaries for the one-run audit (Steinke, Nasr and
            Jagielski, 2023), each added once to the target's training data with probability
            1/2; 0 disables it.
    """

    enabled: bool = True
    reference_models: int = 2
    attacks: tuple[str, ...] = ("loss", "reference", "rmia", "blind")
    max_pool: Optional[int] = None
    exposure_canaries: int = 0
    canary_repeats: tuple[int, ...] = (1, 4, 16)
    canary_candidates: int = 1000
    one_run_canaries: int = 0

    def __post_init__(self) -> None:
        self._check_canaries()
        if self.max_pool is not None and (isinstance(self.max_pool, bool) or not isinstance(self.max_pool, int) or self.max_pool < 4):
            raise ValueError(
                f"max_pool={self.max_pool!r} is invalid; use at least 4 (two members and two non-members), or None "
                "(--max-pool all) for the whole pool."
            )
        if self.reference_models < 0 or self.reference_models % 2:
            raise ValueError(
                f"reference_models={self.reference_models} is invalid; use an even number (0 disables "
                "reference attacks) because references are trained in complementary pairs."
            )
        lira = [name for name in self.attacks if name.startswith("lira")]
        if lira and self.reference_models < 4:
            raise ValueError(
                f"attacks {lira} fit a Gaussian to the IN and OUT reference signals, which needs at least two of "
                f"each per report, but reference_models={self.reference_models}; use 4 or more."
            )

    def _check_canaries(self) -> None:
        for name in ("exposure_canaries", "one_run_canaries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r} is invalid; use a non-negative integer (0 disables it).")
        repeats = self.canary_repeats
        if (
            not isinstance(repeats, tuple)
            or not repeats
            or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in repeats)
        ):
            raise ValueError(f"canary_repeats={repeats!r} is invalid; use a non-empty tuple of positive integers such as (1, 4, 16).")
        if len(set(repeats)) != len(repeats):
            raise ValueError(f"canary_repeats={repeats!r} repeats a count; list each insertion count once, such as (1, 4, 16).")
        candidates = self.canary_candidates
        if isinstance(candidates, bool) or not isinstance(candidates, int) or not 2 <= candidates <= MAX_CANARY_CANDIDATES:
            raise ValueError(
                f"canary_candidates={candidates!r} is invalid; use an integer from 2 to {MAX_CANARY_CANDIDATES}, "
                "for example 1000 (exposure can reach log2 of it)."
            )


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One point of a sweep: dataset x model x method x epsilon x label source x seed, fully resolved.

    ``label_source`` names the labels the model trains on: ``gold`` (the dataset's own), ``rules``
    (the rule-based teacher) or ``llm:<model>`` (a local language-model teacher). Validation
    thresholds use the same source; the test split is always scored against gold labels.
    """

    dataset: str
    model: str
    method: str
    data_dir: Optional[str] = None
    dataset_options: DatasetOptions = field(default_factory=DatasetOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    privacy: Optional[PrivacyOptions] = None
    audit: AuditOptions = field(default_factory=AuditOptions)
    label_source: str = "gold"

    def __post_init__(self) -> None:
        if self.label_source != "gold" and self.label_source != "rules" and not self.label_source.startswith("llm:"):
            raise ValueError(
                f"label_source={self.label_source!r} is invalid; use 'gold', 'rules' or 'llm:<model>' "
                "(for example llm:smollm2-135m)."
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def run_id(self) -> str:
        """Return a short stable id: equal resolved configs give equal ids."""
        payload = json.dumps(self.to_dict(), sort_keys=True, default=str)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
        epsilon = f"-eps{self.privacy.epsilon:g}" if self.privacy else ""
        source = "" if self.label_source == "gold" else f"-{self.label_source.replace(':', '_')}"
        model = Path(self.model).name if "/" in self.model else self.model
        return f"{self.dataset}-{model}-{self.method}{epsilon}{source}-s{self.train.seed}-{digest}"

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)
