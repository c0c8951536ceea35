"""Train, evaluate, checkpoint and audit one run; the sweep calls this once per grid point."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from baselines import METHODS
from bench.canary_audit import audit_delta, plan_canaries, score_canaries, with_canaries
from bench.config import DatasetOptions, RunConfig
from bench.datasets import load_corpus
from bench.environment import environment
from bench.metrics import choose_thresholds, evaluate
from bench.records import Corpus, hash_ids
from bench.results import SCHEMA_VERSION, load_result, run_folder, write_json_atomic
from bench.splits import Splits, split_corpus

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _cached_corpus(name: str, data_dir: str | None, options: DatasetOptions) -> Corpus:
    return load_corpus(name, data_dir, options)


@lru_cache(maxsize=4)
def _teacher_values(source: str, name: str, data_dir: str | None, options: DatasetOptions) -> np.ndarray:
    from bench.labelers import get_labeler
    from bench.labelers.cache import CachedLabeler

    corpus = _cached_corpus(name, data_dir, options)
    labeler_options = {"no_finding_scope": "all_findings"} if source == "rules" and name == "openi" else {}
    labeler = CachedLabeler(get_labeler(source, **labeler_options))
    logger.info("labeling %d reports with teacher %r", len(corpus), source)
    return labeler.label(corpus.texts(), corpus.label_names)


def teacher_corpus(config: RunConfig) -> tuple[Corpus, np.ndarray]:
    """Return the corpus with teacher labels in place of gold ones, and the raw teacher values [n, L]."""
    from bench.labelers import to_targets
    from bench.records import Report

    gold = _cached_corpus(config.dataset, config.data_dir, config.dataset_options)
    values = _teacher_values(config.label_source, config.dataset, config.data_dir, config.dataset_options)
    labels, mask = to_targets(values, config.dataset_options.uncertain_policy)
    reports = [
        Report(r.report_id, r.patient_id, r.text, labels[i].astype(np.float32), mask[i].astype(np.float32), r.template)
        for i, r in enumerate(gold.reports)
    ]
    return gold.subset(reports), values


def prepare_splits(config: RunConfig) -> Splits:
    """Split the corpus; with a teacher label source, every split but test carries teacher labels.

    The split depends only on patient ids, texts and the seed, so the teacher and gold splits
    hold the same reports and the test split keeps its gold labels.
    """
    corpus = _cached_corpus(config.dataset, config.data_dir, config.dataset_options)
    splits = split_corpus(corpus, config.split)
    if config.label_source == "gold":
        return splits
    taught = split_corpus(teacher_corpus(config)[0], config.split)
    return Splits(taught.members, taught.non_members, taught.validation, splits.test, notes=splits.notes)


def teacher_agreement(config: RunConfig, test: Corpus) -> dict | None:
    """Return the teacher-versus-gold agreement on the test split, or ``None`` for gold labels."""
    if config.label_source == "gold":
        return None
    from bench.labelers.agreement import agreement_table

    corpus, values = teacher_corpus(config)
    position = {r.report_id: i for i, r in enumerate(corpus.reports)}
    rows = [position[r.report_id] for r in test.reports]
    return agreement_table(values[rows], test.label_matrix(), test.mask_matrix(), test.label_names, config.dataset_options.uncertain_policy)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))


def run_one(config: RunConfig, results: Path, *, progress: bool = True, force: bool = False) -> dict:
    """Run ``config`` unless a finished result with the same resolved config exists; return the result.

    The result is written last and atomically, so an interrupted run leaves no ``result.json``
    and restarts from scratch on the next call.
    """
    run_id = config.run_id()
    folder = run_folder(results, run_id)
    if not force:
        finished = load_result(folder)
        if finished is not None and finished.get("config") == _plain(config.to_dict()):
            logger.info("skipping %s: finished result found", run_id)
            return finished
    if folder.exists():
        logger.info("restarting %s: removing the unfinished run folder", run_id)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.perf_counter()
    runner = METHODS.get(config.method)
    if runner.private and config.privacy is None:
        raise ValueError(f"method {config.method!r} is private and needs an epsilon; pass --epsilons.")
    if not runner.private and config.privacy is not None:
        raise ValueError(f"method {config.method!r} is not private; drop the epsilon for it.")
    splits = prepare_splits(config)
    if len(splits.members) < config.train.batch_size:
        raise ValueError(
            f"the training split has {len(splits.members)} reports, fewer than the batch size {config.train.batch_size}; "
            "use a smaller --batch-size or a larger dataset."
        )

    # Canaries join the target's training corpus only. The audit pool, validation, test and the
    # reference models all read ``splits``, which contains no canary.
    canaries = plan_canaries(config, splits.members.label_names)
    train = with_canaries(splits.members, canaries)
    logger.info("training %s on %d reports (%d of them canaries)", run_id, len(train), len(train) - len(splits.members))
    fitted = runner.fit(train, splits.validation, config, progress=progress)
    predictor = fitted.predictor

    validation_probabilities = sigmoid(predictor.predict_logits(splits.validation, progress=progress))
    thresholds = choose_thresholds(
        validation_probabilities, splits.validation.label_matrix(), splits.validation.mask_matrix(), grid=config.train.threshold_grid
    )
    test_probabilities = sigmoid(predictor.predict_logits(splits.test, progress=progress))
    test_metrics = evaluate(
        test_probabilities, splits.test.label_matrix(), splits.test.mask_matrix(), thresholds, splits.test.label_names, seed=config.train.seed
    )
    validation_metrics = evaluate(
        validation_probabilities,
        splits.validation.label_matrix(),
        splits.validation.mask_matrix(),
        thresholds,
        splits.validation.label_names,
        bootstrap=0,
    )

    corpus = _cached_corpus(config.dataset, config.data_dir, config.dataset_options)
    member_hash = hash_ids([r.report_id for r in splits.members.reports])
    privacy = fitted.stats.pop("privacy", None)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "config": config.to_dict(),
        "seeds": {"train": config.train.seed, "split": config.split.seed, "dataset": config.dataset_options.synthetic_seed},
        "dataset_fingerprint": corpus.fingerprint(),
        "label_names": list(corpus.label_names),
        "member_ids_sha256": member_hash,
        "privacy": privacy,
        "thresholds": thresholds.tolist(),
        "training": fitted.stats,
        "environment": environment(),
    }
    checkpoint = folder / "checkpoint"
    files = predictor.save(checkpoint)
    write_json_atomic(checkpoint / "manifest.json", manifest)

    audit = None
    if config.audit.enabled:
        from bench.audit import run_audit

        delta, delta_source = audit_delta(privacy, len(train))
        audit = run_audit(runner, predictor, splits, config, folder, results / "references", progress=progress, delta=delta)
        audit["delta_source"] = delta_source
        if canaries is not None:
            audit["canaries"] = score_canaries(
                predictor,
                canaries,
                config,
                splits.members.label_names,
                delta=delta,
                delta_source=delta_source,
                num_train=len(train),
                run_dir=folder,
                progress=progress,
            )

    result = {
        **manifest,
        "status": "complete",
        "method": {"name": config.method, "private": runner.private},
        "dataset": {
            "name": config.dataset,
            "fingerprint": manifest["dataset_fingerprint"],
            "label_names": list(corpus.label_names),
            "notes": corpus.notes,
            "splits": splits.notes,
        },
        "label_source": config.label_source,
        "teacher_agreement": teacher_agreement(config, splits.test),
        "metrics": {"test": test_metrics, "validation": validation_metrics},
        "audit": audit,
        "checkpoint": {"folder": "checkpoint", "files": files},
        "timing": {
            "started": started_at.isoformat(timespec="seconds"),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 2),
        },
    }
    write_json_atomic(folder / "result.json", result)
    return load_result(folder)


def _plain(value):
    import json

    from bench.results import to_jsonable

    return json.loads(json.dumps(to_jsonable(value)))
