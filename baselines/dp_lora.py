"""DP-LoRA: LoRA adapters and the head trained with DP-SGD (Opacus), Poisson sampling and RDP accounting."""

from __future__ import annotations

import logging
import warnings

import torch
from tqdm.auto import tqdm

from baselines.base import FitResult, register_runner
from baselines.lora import add_lora
from baselines.neural import make_optimizer, masked_bce_per_sample
from baselines.privacy import PrivacyPlan, plan_privacy, spent_epsilon
from baselines.transformer import fit_transformer
from bench.config import RunConfig, TrainOptions
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
    noisy step, so accountant steps equal optimizer steps. The returned ``model`` entry is the
    trained model without the Opacus wrapper.
    """
    from opacus import PrivacyEngine
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
    engine = PrivacyEngine(accountant="rdp")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        private_model, private_optimizer, private_loader = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=plan.noise_multiplier,
            max_grad_norm=options.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode="hooks",
        )
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
                    _prepare_empty_step(private_optimizer)
                else:
                    ids, attention, labels, label_mask = (t.to(device) for t in (ids, attention, labels, label_mask))
                    output = private_model(input_ids=ids, attention_mask=attention)
                    loss = masked_bce_per_sample(output.logits, labels, label_mask).mean()
                    loss.backward()
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


def _prepare_empty_step(optimizer) -> None:
    """Give every parameter an empty per-sample gradient so the step adds pure noise and is accounted."""
    for param in optimizer.params:
        param.grad_sample = torch.zeros((0, *param.shape), dtype=param.dtype, device=param.device)


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
