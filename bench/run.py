"""Run a sweep: datasets x models x methods x epsilons x seeds, then write the report.

Examples::

    python -m bench.run                                   # the embedded default
    python -m bench.run --preset smoke --out results/smoke
    python -m bench.run --dataset openi --data-dir ../shared/data/openi --out results/openi
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from bench.config import AuditOptions, PrivacyOptions, RunConfig
from bench.presets import PRESETS, Preset
from bench.registry import UnknownNameError

logger = logging.getLogger("bench.run")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    presets = "; ".join(f"{name}: {PRESETS.get(name).description}" for name in PRESETS.names())
    parser.add_argument("--preset", default="default", help=f"named sweep (default: default). {presets}")
    parser.add_argument("--dataset", help="registered dataset name (default: the preset's, 'synthetic')")
    parser.add_argument("--data-dir", help="folder (or file, for 'csv') holding the dataset's files")
    parser.add_argument("--model", help="registered model name or a local Hugging Face checkpoint folder")
    parser.add_argument("--methods", help="comma-separated method names (default: the preset's)")
    parser.add_argument("--epsilons", help="comma-separated target epsilons for private methods, e.g. 1,10")
    parser.add_argument(
        "--labels",
        help="comma-separated label sources to train on: gold, rules, llm:<model> (default: gold); test is always gold",
    )
    parser.add_argument("--delta", type=float, help="target delta (default: 1/(10 N) for N training reports)")
    parser.add_argument("--seeds", help="comma-separated training seeds (default: the preset's)")
    parser.add_argument("--out", help="results folder (default: results/<preset>)")
    parser.add_argument("--report-dir", help="report folder (default: reports/<results folder name>)")
    parser.add_argument("--uncertain-policy", choices=("ones", "zeros", "mask"), help="what uncertain (-1.0) labels become")
    parser.add_argument("--text-column", help="text column for the 'csv' dataset")
    parser.add_argument("--label-columns", help="comma-separated 0/1 label columns for the 'csv' dataset")
    parser.add_argument("--max-reports", type=int, help="use a seeded sample of at most this many reports")
    parser.add_argument("--epochs", type=float, help="training epochs (default: the preset's)")
    parser.add_argument("--learning-rate", type=float, help="learning rate for every method (default: the preset's per-method rates)")
    parser.add_argument("--head-learning-rate", type=float, help="learning rate of the classification head (default: the preset's)")
    parser.add_argument("--max-grad-norm", type=float, help="per-report clipping norm C of DP-SGD (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="logical batch size (expected size under Poisson sampling)")
    parser.add_argument("--physical-batch-size", type=int, help="largest batch run through the model at once")
    parser.add_argument(
        "--max-pool",
        help="cap on the audit pool (members plus non-members), or 'all'; each reference model trains on half of it "
        "(default: the preset's)",
    )
    parser.add_argument("--reference-models", type=int, help="even number of reference models for the audit; 0 skips reference attacks")
    parser.add_argument("--attacks", help="comma-separated attack names (default: the preset's, e.g. loss,reference,rmia)")
    parser.add_argument("--no-audit", action="store_true", help="skip the membership audit")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--force", action="store_true", help="rerun finished runs instead of skipping them")
    parser.add_argument("--dry-run", action="store_true", help="print the grid and its cost, then stop")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    return parser.parse_args(argv)


def _split_list(text: Optional[str], kind=str, option: str = "the list") -> Optional[tuple]:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{option} {text!r} is empty. Give comma-separated values.")
    values = []
    for item in items:
        try:
            values.append(kind(item))
        except ValueError:
            raise ValueError(
                f"{option} {text!r} is invalid because {item!r} is not a {kind.__name__}. "
                f"Give comma-separated {kind.__name__} values such as 1,10."
            ) from None
    return tuple(values)


def _parse_max_pool(text: str) -> Optional[int]:
    """Convert the ``--max-pool`` value to a pool size, or ``None`` for ``all``."""
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--max-pool {text!r} is invalid; use an integer such as 800, or 'all'.") from None


def build_grid(args: argparse.Namespace) -> tuple[Preset, list[RunConfig]]:
    """Resolve the preset and the command-line overrides into one validated RunConfig per run."""
    from baselines import METHODS
    from bench.datasets import DATASETS
    from bench.models import resolve_model

    preset = PRESETS.get(args.preset)
    dataset = args.dataset or preset.dataset
    DATASETS.get(dataset)
    model = args.model or preset.model
    resolve_model(model)
    methods = _split_list(args.methods, str, "--methods") or preset.methods
    for method in methods:
        METHODS.get(method)
    epsilons = _split_list(args.epsilons, float, "--epsilons") or preset.epsilons
    seeds = _split_list(args.seeds, int, "--seeds") or preset.seeds
    label_sources = _split_list(args.labels, str, "--labels") or ("gold",)
    if dataset != "synthetic" and args.data_dir is None:
        raise ValueError(f"dataset {dataset!r} needs --data-dir pointing at its files.")
    if args.data_dir is not None and not Path(args.data_dir).expanduser().exists():
        raise FileNotFoundError(
            f"--data-dir {args.data_dir} does not exist. Pass the folder that contains the files of "
            f"dataset {dataset!r}, or the table file itself for 'csv'."
        )

    dataset_changes = {}
    if args.uncertain_policy:
        dataset_changes["uncertain_policy"] = args.uncertain_policy
    if args.text_column:
        dataset_changes["text_column"] = args.text_column
    if args.label_columns:
        dataset_changes["label_columns"] = _split_list(args.label_columns, str, "--label-columns")
    if args.max_reports:
        dataset_changes["max_reports"] = args.max_reports
    dataset_options = dataclasses.replace(preset.dataset_options, **dataset_changes)

    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "physical_batch_size": args.physical_batch_size,
        "head_learning_rate": args.head_learning_rate,
        "max_grad_norm": args.max_grad_norm,
    }
    train_changes = {key: value for key, value in overrides.items() if value is not None}
    overrides_given = set(train_changes)
    audit: AuditOptions = preset.audit
    if args.attacks:
        from attacks import ATTACKS
        from bench.audit import TEXT_ATTACKS

        attacks = _split_list(args.attacks, str, "--attacks")
        for name in attacks:
            if name not in TEXT_ATTACKS:
                ATTACKS.get(name)
        audit = dataclasses.replace(audit, attacks=attacks)
    if args.reference_models is not None:
        from bench.audit import REFERENCE_ATTACKS

        attacks = audit.attacks if args.reference_models else tuple(a for a in audit.attacks if a not in REFERENCE_ATTACKS)
        audit = dataclasses.replace(audit, reference_models=args.reference_models, attacks=attacks)
    if args.max_pool is not None:
        audit = dataclasses.replace(audit, max_pool=_parse_max_pool(args.max_pool))
    if args.no_audit:
        audit = dataclasses.replace(audit, enabled=False)

    configs: list[RunConfig] = []
    for seed in seeds:
        for method in methods:
            runner = METHODS.get(method)
            method_train = preset.train_for(method)
            rate = args.learning_rate or method_train.learning_rate
            changes = dict(train_changes)
            if "batch_size" in changes and "physical_batch_size" not in overrides_given:
                changes["physical_batch_size"] = min(changes["batch_size"], method_train.physical_batch_size)
            train = dataclasses.replace(method_train, **changes, seed=seed, learning_rate=rate)
            budgets = [PrivacyOptions(epsilon=e, delta=args.delta) for e in epsilons] if runner.private else [None]
            for privacy, source in itertools.product(budgets, label_sources):
                configs.append(
                    RunConfig(
                        dataset=dataset,
                        model=model,
                        method=method,
                        data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
                        dataset_options=dataset_options,
                        split=preset.split,
                        train=train,
                        privacy=privacy,
                        audit=audit,
                        label_source=source,
                    )
                )
    return preset, configs


def describe_cost(preset: Preset, configs: list[RunConfig]) -> str:
    neural = [c for c in configs if c.method != "tfidf"]
    from bench.audit import REFERENCE_ATTACKS

    references = sum(
        c.audit.reference_models for c in neural if c.audit.enabled and REFERENCE_ATTACKS.intersection(c.audit.attacks)
    )
    estimate = preset.cost_hint or "no estimate"
    _, shipped = build_grid(parse_args(["--preset", preset.name]))
    if {c.run_id() for c in configs} != {c.run_id() for c in shipped}:
        estimate += " for the preset as shipped; this grid changes its data, runs or options, so its time differs"
    return (
        f"{len(configs)} runs ({len(neural)} neural targets + {references} neural reference models to train); "
        f"preset {preset.name!r}: {estimate}"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from bench.logs import configure_logging

    try:
        preset, configs = build_grid(args)
    except (ValueError, FileNotFoundError, UnknownNameError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out or Path("results") / preset.name)
    # A dry run only prints the plan, so it leaves no file behind.
    configure_logging(None if args.dry_run else out / "sweep.log", verbose=args.verbose)
    logger.info("sweep plan: %s", describe_cost(preset, configs))
    logger.info("results folder: %s", out.resolve())
    if args.dry_run:
        for config in configs:
            logger.info("  %s", config.run_id())
        return 0

    from bench.pipeline import run_one
    from bench.results import write_json_atomic

    write_json_atomic(
        out / "sweep.json",
        {
            "preset": preset.name,
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "runs": [c.run_id() for c in configs],
            "argv": list(argv) if argv is not None else sys.argv[1:],
        },
    )
    failures = 0
    for index, config in enumerate(configs, start=1):
        logger.info("run %d/%d: %s", index, len(configs), config.run_id())
        try:
            result = run_one(config, out, progress=not args.no_progress, force=args.force)
        except (ValueError, FileNotFoundError, UnknownNameError) as error:
            logger.error("run %s failed: %s", config.run_id(), error)
            failures += 1
            if index == 1:
                logger.error("stopping: the first run failed on its input, so the others would too")
                return 2
            continue
        test = result["metrics"]["test"]
        logger.info("run %s: weighted F1 %.3f", config.run_id(), test["weighted_f1"] or float("nan"))

    if not args.no_report:
        from bench.report import write_report

        path = write_report(out, Path(args.report_dir) if args.report_dir else None)
        logger.info("report written to %s", path.resolve())
        print(f"Report: {path.resolve()}")
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
