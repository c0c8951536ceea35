"""Canaries in the target's training data: their insertion, and the exposure and one-run audits.

Two kinds of synthetic canaries (``attacks.canaries``) are added to the TARGET model's training
corpus only. They never enter the audit pool, the validation or test splits, or the reference
models' training sets, and every canary text is the module's template with a random secret.

- Exposure canaries are inserted ``repeats`` times each. After training, the loss on a canary's
  own text is ranked among its losses on ``canary_candidates`` texts with other secrets
  (Carlini et al., 2019).
- One-run canaries are each inserted once with probability 1/2. Their losses give the one-run
  lower bound on epsilon of Steinke, Nasr and Jagielski (2023).

Each canary has its own random label pattern and its text names no label, so the model can fit
a canary only by memorising its secret. Because canaries are part of the training corpus, the
DP runner counts them in N, so delta = 1/(10 N) and the sample rate cover them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from attacks.canaries import Canary, candidate_texts, exposure, make_canaries
from attacks.loss import report_losses
from attacks.one_run import best_one_run_epsilon, correct_guesses
from bench.config import RunConfig
from bench.records import Corpus, Report
from bench.results import save_npz_atomic

logger = logging.getLogger(__name__)

CANARY_SCORES_FILE = "canary_scores.npz"
ONE_RUN_CONFIDENCE = 0.95
# Group tag of canary reports in ``Report.template``, which never contains report text.
CANARY_TEMPLATE_TAG = "audit-canary"
# Stream tags that keep the canary, inclusion and candidate draws independent of each other.
_CANARY_STREAM, _INCLUSION_STREAM, _CANDIDATE_STREAM = 101, 102, 103


@dataclass(frozen=True, eq=False)
class CanaryPlan:
    """The canaries of one run and which one-run canaries the target trains on.

    Attributes:
        exposure: Exposure canaries; canary i is inserted ``exposure[i].repeats`` times.
        one_run: The m one-run canaries, inserted once each where ``included`` is True.
        included: bool array [m], each entry True with probability 1/2, from a seeded generator.
        seed: (split seed, training seed), from which every draw of the plan derives.
    """

    exposure: list[Canary]
    one_run: list[Canary]
    included: np.ndarray
    seed: tuple[int, int]

    def inserted_count(self) -> int:
        """Return how many canary reports the target trains on, copies included."""
        return sum(canary.repeats for canary in self.exposure) + int(self.included.sum())

    def training_reports(self, label_names: Sequence[str]) -> list[Report]:
        """Return the canary reports to add to the target's training corpus, copies included."""
        reports = []
        for canary in self.exposure:
            for copy in range(canary.repeats):
                reports.append(_report(canary, f"{canary.id}-copy{copy:03d}", len(label_names)))
        for canary, inside in zip(self.one_run, self.included):
            if inside:
                reports.append(_report(canary, canary.id, len(label_names)))
        return reports


def _report(canary: Canary, report_id: str, num_labels: int) -> Report:
    if canary.labels.shape[0] != num_labels:
        raise ValueError(f"{canary.id} has {canary.labels.shape[0]} labels but the corpus has {num_labels}; plan canaries with the corpus's label names.")
    return Report(report_id, canary.id, canary.text, canary.labels.copy(), canary.mask.copy(), CANARY_TEMPLATE_TAG)


def plan_canaries(config: RunConfig, label_names: Sequence[str]) -> Optional[CanaryPlan]:
    """Return the run's canaries, or ``None`` when the audit is off or both canary audits are disabled.

    The draws depend only on the split seed and the training seed, so every method and epsilon
    of one sweep point gets the same canaries and the same inclusion bits.
    """
    options = config.audit
    exposure_count = options.exposure_canaries * len(options.canary_repeats)
    if not options.enabled or exposure_count + options.one_run_canaries == 0:
        return None

    seed = (config.split.seed, config.train.seed)
    # One call draws every secret, so no exposure canary shares a secret with a one-run canary.
    # Its repeats list has one entry per canary, so entry i is canary i's insertion count.
    repeats = [options.canary_repeats[i % len(options.canary_repeats)] for i in range(exposure_count)]
    repeats += [1] * options.one_run_canaries
    canaries = make_canaries(
        len(repeats),
        repeats,
        label_names=label_names,
        seed=int(np.random.SeedSequence([*seed, _CANARY_STREAM]).generate_state(1)[0]),
        random_labels=True,
    )
    inclusion = np.random.default_rng([*seed, _INCLUSION_STREAM])
    included = inclusion.random(options.one_run_canaries) < 0.5
    return CanaryPlan(exposure=canaries[:exposure_count], one_run=canaries[exposure_count:], included=included, seed=seed)


def with_canaries(train: Corpus, plan: Optional[CanaryPlan]) -> Corpus:
    """Return ``train`` with the plan's canary reports appended, or ``train`` itself without a plan."""
    if plan is None:
        return train
    return train.subset(list(train.reports) + plan.training_reports(train.label_names))


def audit_delta(privacy: Optional[dict], num_train: int) -> tuple[float, str]:
    """Return the delta of the epsilon lower bounds and where it comes from.

    A DP run uses its own delta, from the runner's ``privacy`` facts. A non-private run has none,
    so it uses 1/(10 N), the default delta of a DP run on the same training corpus, with N
    counting the canaries.
    """
    if privacy and privacy.get("delta") is not None:
        return float(privacy["delta"]), "the run's delta"
    return 1.0 / (10.0 * num_train), "1/(10 N), the delta a DP run would use (this run is not private)"


def score_canaries(
    predictor,
    plan: CanaryPlan,
    config: RunConfig,
    label_names: Sequence[str],
    *,
    delta: float,
    delta_source: str,
    num_train: int,
    run_dir: Path,
    progress: bool,
) -> dict[str, Any]:
    """Score the canaries with the trained target and return the ``audit.canaries`` block of the result.

    Writes ``canary_scores.npz`` into ``run_dir``: the inclusion bits and scores of the one-run
    canaries, and each exposure canary's repeat count, candidate losses (its own text first) and
    exposure. No text or secret is written.
    """
    started = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    block: dict[str, Any] = {
        "inserted_reports": plan.inserted_count(),
        "training_reports": int(num_train),
        "delta": delta,
        "delta_source": delta_source,
        "label_patterns": "random per canary; the text names no label",
        "scores_file": CANARY_SCORES_FILE,
    }

    if plan.exposure:
        block["exposure"], exposure_arrays = _exposure_block(predictor, plan, config, label_names, progress=progress)
        arrays.update(exposure_arrays)
    if plan.one_run:
        scores = -_losses(predictor, plan.one_run, [c.text for c in plan.one_run], label_names, progress=progress)
        block["epsilon_lower_bound"] = one_run_bound(scores, plan.included, delta=delta)
        arrays.update(one_run_scores=scores, one_run_included=plan.included)

    save_npz_atomic(run_dir / CANARY_SCORES_FILE, **arrays)
    block["seconds"] = round(time.perf_counter() - started, 2)
    logger.info(
        "canary audit: %d exposure and %d one-run canaries scored in %.1f s",
        len(plan.exposure), len(plan.one_run), block["seconds"],
    )
    return block


def _exposure_block(predictor, plan: CanaryPlan, config: RunConfig, label_names: Sequence[str], *, progress: bool):
    candidates = config.audit.canary_candidates
    candidate_seed = int(np.random.SeedSequence([*plan.seed, _CANDIDATE_STREAM]).generate_state(1)[0])
    owners: list[Canary] = []
    texts: list[str] = []
    for row, canary in enumerate(plan.exposure):
        texts += candidate_texts(canary, candidates, seed=candidate_seed + row)
        owners += [canary] * candidates
    # One scoring pass covers every candidate text. Row i contains canary i's losses, its own text first.
    losses = _losses(predictor, owners, texts, label_names, progress=progress).reshape(len(plan.exposure), candidates)
    exposures = np.array([exposure(row[0], row) for row in losses])
    repeats = np.array([c.repeats for c in plan.exposure])

    by_repeats = {}
    for count in config.audit.canary_repeats:
        chosen = exposures[repeats == count]
        by_repeats[str(count)] = {"canaries": int(chosen.size), "mean": float(chosen.mean()), "max": float(chosen.max())}
    # When every candidate of a canary gets the same loss, the model's output does not depend on the
    # secret, so its exposure is about 1 bit. TF-IDF drops tokens found in fewer than 2 reports, and truncation at
    # max_length can cut the secret off.
    blind_to_secret = int((losses == losses[:, :1]).all(axis=1).sum())
    if blind_to_secret:
        logger.info("exposure: the model gives one loss to every candidate of %d of %d canaries", blind_to_secret, len(losses))
    block = {
        "candidates": candidates,
        "max_possible": float(np.log2(candidates)),
        "canaries_with_equal_candidate_losses": blind_to_secret,
        "by_repeats": by_repeats,
    }
    arrays = {"exposure_repeats": repeats, "exposure_candidate_losses": losses, "exposure_bits": exposures}
    return block, arrays


def _losses(predictor, canaries: Sequence[Canary], texts: Sequence[str], label_names: Sequence[str], *, progress: bool) -> np.ndarray:
    """Return the target's masked multi-label loss [n] of each text scored against its canary's labels."""
    reports = [
        Report(f"canary-score-{index:07d}", "canary", text, canary.labels, canary.mask, CANARY_TEMPLATE_TAG)
        for index, (canary, text) in enumerate(zip(canaries, texts))
    ]
    corpus = Corpus("canaries", tuple(label_names), reports)
    logits = predictor.predict_logits(corpus, progress=progress)
    return report_losses(logits, corpus.label_matrix(), corpus.mask_matrix())


def one_run_bound(scores: np.ndarray, included: np.ndarray, *, delta: float) -> dict[str, Any]:
    """Return the one-run lower bound on epsilon with its m, guesses, correct guesses and confidence."""
    best = best_one_run_epsilon(scores, included, delta=delta, confidence=ONE_RUN_CONFIDENCE)
    positive, negative = best["guesses_positive"], best["guesses_negative"]
    m = scores.size
    correct = correct_guesses(scores, included, guesses_positive=positive, guesses_negative=negative)
    return {
        "epsilon": best["epsilon"],
        "method": "one-run audit (Steinke, Nasr and Jagielski, 2023); score = minus the canary's loss on its own labels",
        "m": int(m),
        "included": int(included.sum()),
        "guesses": positive + negative,
        "guesses_positive": positive,
        "guesses_negative": negative,
        "correct": correct,
        "confidence": ONE_RUN_CONFIDENCE,
        "pairs_tried": best["tried"],
        "confidence_per_try": best["confidence_per_try"],
        "delta": delta,
    }
