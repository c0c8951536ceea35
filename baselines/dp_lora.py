"""DP-LoRA: LoRA adapters and the head trained with DP-SGD (Opacus), Poisson sampling and RDP accounting."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from baselines.base import FitResult, register_runner
from baselines.lora import add_lora
from baselines.neural import make_optimizer, masked_bce_per_sample
from baselines.privacy import PrivacyPlan, plan_privacy, spent_epsilon
from baselines.transformer import fit_transformer
from bench.config import ClippingMode, RunConfig, TrainOptions
from bench.data import PadCollator, TokenizedReports
from bench.records import Corpus

logger = logging.getLogger(__name__)


class PrivacyBudgetExceeded(RuntimeError):
    """Raised when the accountant reports more epsilon than the run's target."""


def train_private(model: torch.nn.Module, dataset: TokenizedReports, pad_token_id: int, config: RunConfig, *, progress: bool) -> dict:
    """Calibrate the noise to ``config.privacy`` and train with DP-SGD; return the training facts."""
    if config.privacy is None:
        raise ValueError("method 'dp-lora' needs a privacy target; set epsilon (for example --epsilons 1,10).")
    delta = config.privacy.resolve_delta(len(dataset))
    plan = plan_privacy(
        target_epsilon=config.privacy.epsilon,
        delta=delta,
        num_train=len(dataset),
        batch_size=config.train.batch_size,
        epochs=config.train.epochs,
    )
    facts = train_with_plan(model, dataset, pad_token_id, config.train, plan, progress=progress)
    facts["privacy"]["delta_rule"] = "1/(10 N)" if config.privacy.delta is None else "user"
    return facts


def train_with_plan(
    model: torch.nn.Module,
    dataset: TokenizedReports,
    pad_token_id: int,
    options: TrainOptions,
    plan: PrivacyPlan,
    *,
    progress: bool,
) -> dict:
    """Train the trainable parameters of ``model`` with DP-SGD under ``plan``; return the training facts.

    Logical batches are Poisson samples with expected size ``options.batch_size``; Opacus's
    ``BatchMemoryManager`` splits them into physical batches of at most ``physical_batch_size``
    without changing the logical batch or the accounting. An empty Poisson sample still takes a
    noisy step, so accountant steps equal optimizer steps. ``options.dp_clipping`` picks how
    per-sample gradients are clipped (see ``make_private``). The returned ``model`` entry is the
    trained model without the Opacus wrapper.
    """
    from opacus.utils.batch_memory_manager import BatchMemoryManager

    delta = plan.delta
    logger.info(
        "DP-SGD plan: epsilon %.3g, delta %.2e, sample rate %.4f, %d steps, noise multiplier %.3f",
        plan.target_epsilon, plan.delta, plan.sample_rate, plan.steps, plan.noise_multiplier,
    )

    model.train()
    optimizer = make_optimizer(model, options)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=options.batch_size,
        collate_fn=PadCollator(pad_token_id),
        generator=torch.Generator().manual_seed(options.seed),
    )
    private = make_private(
        model, optimizer, loader, noise_multiplier=plan.noise_multiplier, max_grad_norm=options.max_grad_norm, clipping=options.dp_clipping
    )
    engine, private_model, private_optimizer, private_loader = private.engine, private.model, private.optimizer, private.loader
    if options.bucket_by_length:
        private_loader = sort_batches_by_length(private_loader, dataset.lengths())
    scheduler = torch.optim.lr_scheduler.LambdaLR(private_optimizer.original_optimizer, lambda s: max(0.0, 1.0 - s / plan.steps))
    device = next(private_model.parameters()).device

    steps = samples = tokens = empty_batches = 0
    bar = tqdm(total=plan.steps, desc="training (DP)", unit="step", disable=not progress, leave=False)
    while steps < plan.steps:
        with BatchMemoryManager(
            data_loader=private_loader, max_physical_batch_size=options.physical_batch_size, optimizer=private_optimizer
        ) as physical_loader:
            for ids, attention, labels, label_mask in physical_loader:
                if steps >= plan.steps:
                    break
                if ids.shape[0] == 0:
                    empty_batches += 1
                    private.prepare_empty_step()
                else:
                    ids, attention, labels, label_mask = (t.to(device) for t in (ids, attention, labels, label_mask))
                    output = private_model(input_ids=ids, attention_mask=attention)
                    private.backward(output.logits, labels, label_mask)
                    samples += int(ids.shape[0])
                    tokens += int(attention.sum())
                private_optimizer.step()
                private_optimizer.zero_grad(set_to_none=True)
                if not private_optimizer._is_last_step_skipped:
                    scheduler.step()
                    steps += 1
                    bar.update(1)
    bar.close()

    accountant_steps = sum(entry[2] for entry in engine.accountant.history)
    if accountant_steps != steps:
        raise RuntimeError(
            f"the accountant recorded {accountant_steps} steps but the optimizer took {steps}; the spent epsilon "
            "would be wrong, so the run is stopped."
        )
    epsilon_rdp = float(engine.accountant.get_epsilon(delta=delta)) if plan.noise_multiplier > 0 else float("inf")
    epsilon_prv = spent_epsilon(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate, steps=steps, delta=delta, accountant="prv")
    if epsilon_rdp > plan.target_epsilon * (1 + 1e-9):
        raise PrivacyBudgetExceeded(
            f"spent epsilon {epsilon_rdp:.4f} exceeds the target {plan.target_epsilon}; this is a bug in the noise "
            "calibration, so no checkpoint is written."
        )
    privacy = {
        "target_epsilon": plan.target_epsilon,
        "epsilon_rdp": epsilon_rdp,
        "epsilon_prv": epsilon_prv,
        "delta": delta,
        "noise_multiplier": plan.noise_multiplier,
        "max_grad_norm": options.max_grad_norm,
        "clipping": options.dp_clipping,
        "sample_rate": plan.sample_rate,
        "expected_batch_size": options.batch_size,
        "planned_steps": plan.steps,
        "accountant_steps": accountant_steps,
        "empty_batches": empty_batches,
        "sampling": "poisson",
        "accountant": "rdp",
    }
    return {
        "optimizer_steps": steps,
        "samples_seen": samples,
        "tokens_seen": tokens,
        "privacy": privacy,
        "model": private_model._module,
    }


class MaskedBCELoss(torch.nn.Module):
    """Multi-label loss over the scored labels, reduced per report and then over the batch.

    ``reduction="none"`` returns the loss per report, shape [batch]. Opacus's ghost clipping
    wrapper expects that form, and sets ``reduction`` to ``"none"`` while it calls the criterion.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor) -> torch.Tensor:
        per_report = masked_bce_per_sample(logits, labels, label_mask)
        if self.reduction == "none":
            return per_report
        if self.reduction == "sum":
            return per_report.sum()
        if self.reduction == "mean":
            return per_report.mean()
        raise ValueError(f"reduction={self.reduction!r} is invalid; use 'none', 'sum' or 'mean'.")


@dataclass
class PrivateTraining:
    """The Opacus-wrapped model, optimizer and Poisson loader of one DP-SGD run.

    Attributes:
        engine: The ``PrivacyEngine`` whose RDP accountant records every step.
        model: The wrapped model (``model._module`` is the original).
        optimizer: The DP optimizer that clips (``hooks`` only), adds noise and steps.
        loader: The Poisson-sampling data loader.
        clipping: The clipping mode, ``"hooks"`` or ``"ghost"``.
        criterion: Opacus's ghost clipping loss wrapper, or ``None`` in ``hooks`` mode.
    """

    engine: Any
    model: torch.nn.Module
    optimizer: Any
    loader: torch.utils.data.DataLoader
    clipping: ClippingMode
    criterion: Optional[Any] = None

    def backward(self, logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor) -> None:
        """Back-propagate the batch's loss so that the next ``optimizer.step()`` applies its clipped gradients.

        In ``hooks`` mode the backward pass fills per-sample gradients, which the optimizer clips.
        In ``ghost`` mode the wrapper runs two backward passes: the first computes per-report
        gradient norms, the second back-propagates the per-report losses scaled by their clipping
        factors, which leaves the sum of clipped gradients in ``.grad``.
        """
        if self.criterion is None:
            masked_bce_per_sample(logits, labels, label_mask).mean().backward()
        else:
            self.criterion(logits, labels, label_mask).backward()

    def prepare_empty_step(self) -> None:
        """Give every parameter a zero gradient for an empty Poisson batch, so the step adds pure noise and is accounted.

        The ``hooks`` optimizer reads per-sample gradients, here an empty batch of them. The
        ``ghost`` optimizer reads the already clipped sum in ``.grad``, here zeros.
        """
        for param in self.optimizer.params:
            if self.clipping == "ghost":
                param.grad = torch.zeros_like(param)
            else:
                param.grad_sample = torch.zeros((0, *param.shape), dtype=param.dtype, device=param.device)


def length_sorted_poisson_sampler(inner, lengths: np.ndarray):
    """Return Opacus's Poisson sampler ``inner`` with each sampled batch ordered from longest to shortest report.

    Which reports enter a logical batch is decided by the same draws as ``inner``, so the sampling
    and the accounting are unchanged. Only the order inside the batch changes, so that
    ``BatchMemoryManager`` cuts it into physical batches of similar length, which need less padding.
    The result is an instance of Opacus's sampler class, which ``BatchMemoryManager`` checks for
    when it sizes its loader.
    """
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    class LengthSortedPoissonSampler(UniformWithReplacementSampler):
        def __iter__(self):
            for indices in super().__iter__():
                yield sorted(indices, key=lambda index: -int(lengths[index]))

    return LengthSortedPoissonSampler(
        num_samples=inner.num_samples, sample_rate=inner.sample_rate, generator=inner.generator, steps=inner.steps
    )


def sort_batches_by_length(loader: torch.utils.data.DataLoader, lengths: np.ndarray) -> torch.utils.data.DataLoader:
    """Return a loader that draws the same Poisson batches as ``loader``, each ordered by report length."""
    return torch.utils.data.DataLoader(
        dataset=loader.dataset,
        batch_sampler=length_sorted_poisson_sampler(loader.batch_sampler, lengths),
        collate_fn=loader.collate_fn,
        generator=loader.generator,
    )


def make_private(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: torch.utils.data.DataLoader,
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    clipping: ClippingMode,
) -> PrivateTraining:
    """Wrap ``model``, ``optimizer`` and ``loader`` for DP-SGD with Poisson sampling and an RDP accountant.

    ``clipping="hooks"`` uses Opacus's ``grad_sample_mode="hooks"``. ``clipping="ghost"`` uses
    ``grad_sample_mode="ghost"`` (Opacus 1.6), which also returns a loss wrapper. The loss is
    reduced over labels to one value per report, and the wrapper reduces it over the batch.
    """
    from opacus import PrivacyEngine

    if clipping not in ("hooks", "ghost"):
        raise ValueError(f"clipping={clipping!r} is invalid; use 'hooks' or 'ghost'.")

    engine = PrivacyEngine(accountant="rdp")
    arguments = dict(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        poisson_sampling=True,
        grad_sample_mode=clipping,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        if clipping == "ghost":
            private_model, private_optimizer, criterion, private_loader = engine.make_private(criterion=MaskedBCELoss(), **arguments)
        else:
            private_model, private_optimizer, private_loader = engine.make_private(**arguments)
            criterion = None

    return PrivateTraining(
        engine=engine, model=private_model, optimizer=private_optimizer, loader=private_loader, clipping=clipping, criterion=criterion
    )


class DPLoRA:
    name = "dp-lora"
    private = True

    def fit(self, train: Corpus, validation: Corpus, config: RunConfig, *, progress: bool = True) -> FitResult:
        return fit_transformer(
            train,
            config,
            adapt=lambda model, spec: add_lora(model, spec, config.train),
            trainer=train_private,
            adapter_only=True,
            progress=progress,
        )


register_runner(DPLoRA())
