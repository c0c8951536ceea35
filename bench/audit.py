"""Membership audit of one checkpoint: signals from the target and reference models, then every attack.

The audit pool is the target's members plus its non-members. Reference models are trained by
the same runner and config on complementary halves of that pool (see
``bench.splits.reference_halves``) and cached under ``<results>/references`` by a key of
everything that defines them, so a changed split or config never reuses stale references.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np

from attacks import AuditSignals, run_attack
from attacks.empirical import empirical_epsilon_from_roc
from attacks.metrics import bootstrap_roc, roc_metrics
from attacks.slices import per_label_slices
from baselines.base import Runner
from bench.config import RunConfig
from bench.records import Corpus, hash_ids
from bench.results import save_npz_atomic, write_json_atomic
from bench.splits import Splits, reference_halves

logger = logging.getLogger(__name__)

# Attacks that read reference-model signals; the others need only the target.
REFERENCE_ATTACKS = frozenset({"reference", "lira-offline", "lira-online", "rmia"})
# Model-free attacks that read only the report texts; they check that the audit pool's two sides
# cannot be distinguished without the model (Das, Zhang and Tramèr, 2024).
TEXT_ATTACKS = frozenset({"blind"})


def audit_pool(splits: Splits, config: RunConfig) -> tuple[Corpus, np.ndarray]:
    """Return the audit pool and its membership labels, balanced and capped at ``audit.max_pool``."""
    members, non_members = splits.members.reports, splits.non_members.reports
    cap = config.audit.max_pool
    if cap is not None:
        rng = np.random.default_rng(config.split.seed + 7919)
        half = cap // 2
        members = [members[i] for i in sorted(rng.permutation(len(members))[:half])]
        non_members = [non_members[i] for i in sorted(rng.permutation(len(non_members))[:half])]
    pool = splits.members.subset(members + non_members)
    is_member = np.array([True] * len(members) + [False] * len(non_members))
    return pool, is_member


def reference_key(config: RunConfig, pool: Corpus, index: int, mask: np.ndarray) -> str:
    """Return the cache key of reference model ``index``: its runner config, training ids, pool ids and seed."""
    defining = config.to_dict()
    defining.pop("audit")
    payload = {
        "config": defining,
        "pool": hash_ids([r.report_id for r in pool.reports]),
        "pool_data": pool.fingerprint(),
        "training_ids": hash_ids([r.report_id for r, inside in zip(pool.reports, mask) if inside]),
        "index": index,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def reference_signals(
    runner: Runner, config: RunConfig, pool: Corpus, validation: Corpus, cache: Path, *, progress: bool
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train (or load from ``cache``) the reference models; return logits [K, n, L], IN mask [K, n] and facts."""
    count = config.audit.reference_models
    masks = reference_halves(pool, count, seed=config.split.seed * 1000 + config.train.seed + 17)
    # NOTE: each reference model trains on half the audit pool, 200 reports in the default preset,
    # which is often far fewer than its target saw. DP-SGD calibrates its noise and step count to
    # that size, so a DP reference fits much less than its target and its confidence hardly varies
    # between reports. Offline LiRA, which reads only OUT references, then ranks reports by the
    # target's confidence alone. A max_pool near twice the training set (``--max-pool``) aligns
    # them, at a proportional cost.
    logits: list[np.ndarray] = []
    trained = reused = 0
    seconds = 0.0
    for index, inside in enumerate(masks):
        key = reference_key(config, pool, index, inside)
        path = cache / key / "logits.npz"
        if path.is_file():
            with np.load(path) as stored:
                if stored["in_mask"].shape == inside.shape and np.array_equal(stored["in_mask"], inside):
                    logits.append(stored["logits"])
                    reused += 1
                    continue
        logger.info("training reference model %d of %d (%s)", index + 1, count, config.method)
        started = time.perf_counter()
        train = pool.subset([r for r, flag in zip(pool.reports, inside) if flag])
        reference_config = config.replace(train=_reference_train_options(config, index))
        fitted = runner.fit(train, validation, reference_config, progress=progress)
        values = fitted.predictor.predict_logits(pool, progress=progress)
        seconds += time.perf_counter() - started
        save_npz_atomic(path, logits=values, in_mask=inside)
        logits.append(values)
        trained += 1
    if len(logits) < count:
        raise RuntimeError(f"only {len(logits)} of {count} reference models are available; rerun the audit.")
    facts = {
        "reference_models": count,
        "trained": trained,
        "reused_from_cache": reused,
        "train_seconds": round(seconds, 2),
        "reports_per_reference": int(np.median([mask.sum() for mask in masks])),
    }
    return np.stack(logits), np.stack(masks), facts


def _reference_train_options(config: RunConfig, index: int):
    import dataclasses

    return dataclasses.replace(config.train, seed=config.train.seed + 1000 * (index + 1))


def run_audit(
    runner: Runner,
    predictor,
    splits: Splits,
    config: RunConfig,
    run_dir: Path,
    reference_cache: Path,
    *,
    progress: bool,
    delta: float,
) -> dict:
    """Score the audit pool with the target and the references, run each attack and return the metrics.

    Besides its ROC metrics, each attack gets an empirical epsilon from its ROC curve at
    ``delta`` and per-label slices of the pool (``slices``).
    """
    pool, is_member = audit_pool(splits, config)
    target = predictor.predict_logits(pool, progress=progress)
    wanted = list(config.audit.attacks)
    reference_attacks = [name for name in wanted if name in REFERENCE_ATTACKS]
    needs_references = bool(reference_attacks)
    references: Optional[np.ndarray] = None
    reference_in: Optional[np.ndarray] = None
    facts: dict = {"reference_models": 0}
    if needs_references:
        if config.audit.reference_models < 2:
            raise ValueError(
                f"attacks {reference_attacks} need reference models but audit.reference_models="
                f"{config.audit.reference_models}; set it to 2 or more, or drop those attacks."
            )
        references, reference_in, facts = reference_signals(runner, config, pool, splits.validation, reference_cache, progress=progress)

    signals = AuditSignals(
        target_logits=target,
        labels=pool.label_matrix(),
        mask=pool.mask_matrix(),
        is_member=is_member,
        reference_logits=references,
        reference_in=reference_in,
    )
    arrays = {"target_logits": target, "labels": signals.labels, "mask": signals.mask, "is_member": is_member}
    if references is not None:
        arrays.update(reference_logits=references, reference_in=reference_in)
    save_npz_atomic(run_dir / "signals.npz", **arrays)

    attacks: dict[str, dict] = {}
    slices: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    for name in wanted:
        started = time.perf_counter()
        if name == "blind":
            from attacks.blind import blind_scores

            values = blind_scores(pool.texts(), is_member, seed=config.split.seed)
        else:
            values = run_attack(name, signals)
        metrics = roc_metrics(values, is_member)
        # The ROC points are left out of the results file: the raw scores saved below reproduce them.
        metrics.pop("fpr", None)
        metrics.pop("tpr", None)
        metrics["ci95"] = bootstrap_roc(values, is_member, n=200, seed=config.train.seed)
        # NOTE: membership is drawn per patient, so a patient's reports are not independent trials,
        # and DP per report covers them together only through group privacy. With several reports
        # per patient this ROC bound can exceed the epsilon of a correct DP run.
        metrics[_roc_epsilon_key(name)] = empirical_epsilon_from_roc(values, is_member, delta)
        metrics["seconds"] = round(time.perf_counter() - started, 4)
        attacks[name] = metrics
        slices[name] = per_label_slices(values, is_member, signals.labels, signals.mask, pool.label_names)
        scores[name] = values
    save_npz_atomic(run_dir / "attack_scores.npz", is_member=is_member, **scores)
    return {
        "pool_size": int(len(pool)),
        "members": int(is_member.sum()),
        "non_members": int((~is_member).sum()),
        "references": facts,
        "attacks": attacks,
        "slices": slices,
        "delta": delta,
        "signals_file": "signals.npz",
        "scores_file": "attack_scores.npz",
    }


def _roc_epsilon_key(attack: str) -> str:
    """Return the result key of an attack's ROC epsilon.

    A model attack's value is a lower bound on the target's epsilon, stored as
    ``epsilon_lower_bound``, the key the regression gate compares with the target epsilon of DP
    runs. The text-only attacks never query the model, so their value only checks that the
    pool's two sides are alike and goes under ``empirical_epsilon``, which the gate does not read.
    """
    return "empirical_epsilon" if attack in TEXT_ATTACKS else "epsilon_lower_bound"
