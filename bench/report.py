"""Turn a results folder into a markdown report with utility, leakage and performance tables and plots.

Usage::

    python -m bench.report                      # the latest sweep under results/
    python -m bench.report --results results/default --out reports/default
    python -m bench.report --benchmarks reports/benchmarks.json   # the training benchmarks only
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from tabulate import tabulate

from bench.results import iter_results, latest_results_folder

logger = logging.getLogger(__name__)

METHOD_ORDER = {"tfidf": 0, "full": 1, "lora": 2, "dp-lora": 3}


def _fmt(value: Optional[float], digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _epsilon(result: dict) -> Optional[float]:
    privacy = result["config"].get("privacy")
    return privacy["epsilon"] if privacy else None


def _sort_key(result: dict) -> tuple:
    epsilon = _epsilon(result)
    return (
        result["config"]["dataset"],
        result["config"]["model"],
        METHOD_ORDER.get(result["config"]["method"], 9),
        -(epsilon if epsilon is not None else math.inf),
        result["config"].get("label_source", "gold"),
        result["config"]["train"]["seed"],
    )


def utility_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for result in results:
        test = result["metrics"]["test"]
        low, high = (test.get("weighted_f1_ci95") or [None, None])[:2]
        rows.append(
            [
                result["config"]["dataset"],
                result["config"]["model"],
                result["config"]["method"],
                _fmt(_epsilon(result), 2) if _epsilon(result) is not None else "∞",
                result["config"].get("label_source", "gold"),
                result["config"]["train"]["seed"],
                f"{_fmt(test['weighted_f1'])} [{_fmt(low)}, {_fmt(high)}]",
                _fmt(test["micro_f1"]),
                _fmt(test["macro_f1"]),
                len(test.get("excluded_labels") or []),
            ]
        )
    return rows


UTILITY_HEADERS = ["dataset", "model", "method", "ε", "labels", "seed", "weighted F1 ↑ [95% CI]", "micro F1 ↑", "macro F1 ↑", "labels excluded"]
LEAKAGE_HEADERS = [
    "dataset", "method", "ε (target)", "ε spent (RDP / PRV)", "attack", "AUC ↓", "TPR@1% FPR ↓", "TPR@0.1% FPR ↓", "TPR@0% FPR ↓",
    "ROC ε lower bound", "pool", "wall s",
]
PERFORMANCE_HEADERS = ["dataset", "model", "method", "ε", "train s", "s / step", "samples / s", "peak memory MiB", "trainable params"]


def _target(result: dict) -> str:
    return _fmt(_epsilon(result), 2) if _epsilon(result) is not None else "∞"


def _spent(result: dict) -> str:
    privacy = result.get("privacy") or {}
    return f"{_fmt(privacy.get('epsilon_rdp'), 2)} / {_fmt(privacy.get('epsilon_prv'), 2)}" if privacy else "—"


def _roc_epsilon(metrics: dict) -> str:
    """Return an attack's ROC epsilon as table text, marking a text-only attack's value because it bounds no model."""
    if "epsilon_lower_bound" in metrics:
        return _fmt(metrics["epsilon_lower_bound"].get("epsilon"), 2)
    if "empirical_epsilon" in metrics:
        return f"{_fmt(metrics['empirical_epsilon'].get('epsilon'), 2)} (text only)"
    return "n/a"


def _attack_seconds(audit: dict, attack: str, metrics: dict) -> str:
    """Return an attack's wall time: its scoring, plus the training of the reference models it reads."""
    from bench.audit import REFERENCE_ATTACKS

    seconds = metrics.get("seconds")
    if seconds is None:
        return "n/a"
    if attack in REFERENCE_ATTACKS:
        seconds += (audit.get("references") or {}).get("train_seconds") or 0.0
    return _fmt(seconds, 1)


def _with_interval(metrics: dict, key: str) -> str:
    """Return a metric with its bootstrap 95% interval, as "0.584 [0.536, 0.644]", or the value alone without one."""
    interval = (metrics.get("ci95") or {}).get(key)
    if not interval or len(interval) != 2:
        return _fmt(metrics[key])
    return f"{_fmt(metrics[key])} [{_fmt(interval[0])}, {_fmt(interval[1])}]"


def leakage_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for result in results:
        audit = result.get("audit")
        if not audit:
            continue
        for attack, metrics in audit["attacks"].items():
            rows.append(
                [
                    result["config"]["dataset"],
                    result["config"]["method"],
                    _target(result),
                    _spent(result),
                    attack,
                    _with_interval(metrics, "auc"),
                    _with_interval(metrics, "tpr_at_1pct_fpr"),
                    _with_interval(metrics, "tpr_at_0.1pct_fpr"),
                    _fmt(metrics.get("tpr_at_0pct_fpr")),
                    _roc_epsilon(metrics),
                    audit["pool_size"],
                    _attack_seconds(audit, attack, metrics),
                ]
            )
    return rows


def _canary_results(results: list[dict]) -> list[dict]:
    return [r for r in results if (r.get("audit") or {}).get("canaries")]


def _repeat_counts(results: list[dict]) -> list[int]:
    """Return the sorted exposure repeat counts found in ``results``."""
    counts = set()
    for result in _canary_results(results):
        exposure = result["audit"]["canaries"].get("exposure") or {}
        counts.update(int(count) for count in exposure.get("by_repeats") or {})
    return sorted(counts)


def canary_headers(results: list[dict]) -> list[str]:
    """Return the canary table's headers: one exposure column per repeat count found in ``results``."""
    return [
        "dataset", "method", "ε (target)", "ε spent (RDP / PRV)", "δ of the bounds", "one-run ε lower bound [m, guesses, correct]",
        *(f"exposure ×{count} mean / max (bits)" for count in _repeat_counts(results)),
    ]


def canary_rows(results: list[dict]) -> list[list[str]]:
    """Return one row per run with canaries: the one-run bound and the exposure at each repeat count."""
    counts = [str(count) for count in _repeat_counts(results)]
    rows = []
    for result in _canary_results(results):
        canaries = result["audit"]["canaries"]
        bound = canaries.get("epsilon_lower_bound")
        one_run = (
            f"{_fmt(bound['epsilon'], 2)} [{bound['m']}, {bound['guesses']}, {bound['correct']}]" if bound else "not run"
        )
        by_repeats = (canaries.get("exposure") or {}).get("by_repeats") or {}
        exposures = [
            f"{_fmt(by_repeats[count]['mean'], 2)} / {_fmt(by_repeats[count]['max'], 2)}" if count in by_repeats else "—"
            for count in counts
        ]
        row = [result["config"]["dataset"], result["config"]["method"], _target(result), _spent(result), f"{canaries['delta']:.1e}"]
        rows.append([*row, one_run, *exposures])
    return rows


def canary_notes(results: list[dict]) -> list[str]:
    """Return the notes below the canary table: the maximum exposure, and the delta that non-private runs use."""
    notes = []
    blocks = [r["audit"]["canaries"] for r in _canary_results(results)]
    candidates = sorted({block["exposure"]["candidates"] for block in blocks if block.get("exposure")})
    if candidates:
        top = ", ".join(f"{math.log2(c):.2f} bits for {c} candidates" for c in candidates)
        notes.append(f"Exposure is log2(candidates) minus log2 of the rank of the true secret's loss; its maximum is {top}, and about 1 bit is chance.")
    if any(not r["method"]["private"] for r in _canary_results(results)):
        notes.append(
            "A non-private run has no delta of its own, so its lower bounds use the delta a DP run on the same "
            "training corpus would use: 1/(10 N), with N counting the canaries."
        )
    return notes


SLICE_HEADERS = ["dataset", "method", "ε", "attack", "label", "members", "non-members", "AUC ↓", "TPR@1% FPR ↓"]


def slice_rows(results: list[dict]) -> tuple[list[list], int]:
    """Return one row per measured per-label slice, and the number of slices left out for too few reports."""
    rows = []
    excluded = 0
    for result in results:
        slices = (result.get("audit") or {}).get("slices") or {}
        for attack, labels in slices.items():
            for label, metrics in labels.items():
                if "excluded" in metrics:
                    excluded += 1
                    continue
                rows.append(
                    [
                        result["config"]["dataset"],
                        result["config"]["method"],
                        _target(result),
                        attack,
                        label,
                        metrics["n_members"],
                        metrics["n_non_members"],
                        _fmt(metrics["auc"]),
                        _fmt(metrics["tpr_at_1pct_fpr"]),
                    ]
                )
    return rows, excluded


AGREEMENT_HEADERS = ["dataset", "teacher", "label", "F1 vs gold ↑", "Cohen's κ ↑", "teacher positive rate", "gold positive rate", "gold positives"]


def agreement_rows(results: list[dict]) -> list[list[str]]:
    """Return one row per (dataset, teacher, label) plus a weighted row, from the first run of each teacher."""
    rows = []
    seen: set[tuple[str, str]] = set()
    for result in results:
        agreement = result.get("teacher_agreement")
        key = (result["config"]["dataset"], result["config"].get("label_source", "gold"))
        if not agreement or key in seen:
            continue
        seen.add(key)
        entries = list(agreement["labels"].items()) + [("weighted", agreement["weighted"])]
        for label, values in entries:
            rows.append(
                [
                    key[0],
                    key[1],
                    label,
                    _fmt(values.get("f1")),
                    _fmt(values.get("kappa")),
                    _fmt(values.get("teacher_positive_rate")),
                    _fmt(values.get("gold_positive_rate")),
                    values.get("support", ""),
                ]
            )
    return rows


def performance_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for result in results:
        training = result["training"]
        rows.append(
            [
                result["config"]["dataset"],
                result["config"]["model"],
                result["config"]["method"],
                _fmt(_epsilon(result), 2) if _epsilon(result) is not None else "∞",
                _fmt(training.get("train_seconds"), 1),
                _fmt(training.get("seconds_per_step"), 3),
                _fmt(training.get("samples_per_second"), 1),
                _fmt(training.get("peak_memory_mb"), 0),
                training.get("trainable_parameters", "n/a"),
            ]
        )
    return rows


def _seconds_per_sample(training: dict) -> float:
    seconds, samples = training.get("train_seconds"), training.get("samples_seen")
    return seconds / samples if seconds and samples else float("nan")


def dp_ratios(results: list[dict]) -> list[str]:
    """Return one line per DP-LoRA run: its time per training report and peak memory over LoRA's on the same data and model.

    Time is compared per report seen, not per optimizer step, because DP-SGD usually runs with a
    larger logical batch than plain training, so one of its steps trains on more reports.
    """
    lora = {}
    for result in results:
        if result["config"]["method"] == "lora":
            lora[(result["config"]["dataset"], result["config"]["model"], result["config"]["train"]["seed"])] = result["training"]
    lines = []
    for result in results:
        if result["config"]["method"] != "dp-lora":
            continue
        key = (result["config"]["dataset"], result["config"]["model"], result["config"]["train"]["seed"])
        if key not in lora:
            continue
        base, dp = lora[key], result["training"]
        time_ratio = _seconds_per_sample(dp) / _seconds_per_sample(base)
        memory_ratio = dp["peak_memory_mb"] / base["peak_memory_mb"] if base.get("peak_memory_mb") else float("nan")
        lines.append(
            f"- {key[0]} / {key[1]} / ε = {_epsilon(result):g}: DP-LoRA / LoRA time per training report {time_ratio:.2f}×, "
            f"peak memory {memory_ratio:.2f}× ({dp.get('memory_measure', 'n/a')})"
        )
    return lines


BENCHMARK_HEADERS = [
    "model", "device", "benchmark", "steps", "s / step ↓", "samples / s ↑", "tokens / s ↑", "peak memory MiB ↓", "increase MiB ↓", "trainable params",
]
BENCHMARK_ORDER = ("lora", "dp-lora-hooks", "dp-lora-ghost", "full", "peer-dp-lora")
BENCHMARK_RATIO_HEADERS = ["model", "device", "ratio", "time per step", "samples / s", "peak memory", "memory increase"]


def benchmark_rows(records: list[dict]) -> list[list]:
    """Return one row per benchmark record of ``bench/bench_training.py``'s JSON file."""
    rows = []
    order = {name: i for i, name in enumerate(BENCHMARK_ORDER)}
    for record in sorted(records, key=lambda r: (r["model"], r["device"], order.get(r["benchmark"], len(order)), r["benchmark"])):
        rows.append(
            [
                record["model"],
                record["device"],
                record["benchmark"],
                record["optimizer_steps"],
                _fmt(record["seconds_per_step"], 3),
                _fmt(record["samples_per_second"], 1),
                _fmt(record["tokens_per_second"], 0),
                _fmt(record["peak_memory_mb"], 0),
                _fmt(record["memory_increase_mb"], 0),
                record.get("trainable_parameters", "n/a"),
            ]
        )
    return rows


def write_benchmark_table(path: Path, out: Optional[Path] = None) -> Path:
    """Write the performance table of a benchmark JSON file as markdown; print it; return the markdown path."""
    import json

    if not path.is_file():
        raise FileNotFoundError(f"benchmark file {path} does not exist; run `pytest bench -m \"not gpu\" -s` first.")
    payload = json.loads(path.read_text())
    records = payload.get("records") or []
    if not records:
        raise FileNotFoundError(f"benchmark file {path} has no records; run `pytest bench -m \"not gpu\" -s` first.")

    table = tabulate(benchmark_rows(records), headers=BENCHMARK_HEADERS, tablefmt="github")
    ratio_rows = [
        [
            r["model"],
            r["device"],
            r["ratio"],
            f"{_fmt(r['time_per_step'], 2)}×",
            f"{_fmt(r.get('samples_per_second'), 2)}×",
            f"{_fmt(r['peak_memory'], 2)}×",
            f"{_fmt(r['memory_increase'], 2)}×",
        ]
        for r in payload.get("ratios") or []
    ]
    ratios = tabulate(ratio_rows, headers=BENCHMARK_RATIO_HEADERS, tablefmt="github") if ratio_rows else "_No matching pairs._"
    environment = payload.get("environment") or {}
    hardware, packages, git = environment.get("hardware", {}), environment.get("packages", {}), environment.get("git", {})
    load = payload.get("load_average") or {}
    settings = payload.get("settings") or {}
    lines = [
        "# Training benchmarks",
        "",
        f"Written {payload.get('written', 'n/a')}: {settings.get('steps', 'n/a')} optimizer steps per benchmark on "
        f"{settings.get('reports', 'n/a')} synthetic reports with the `{settings.get('preset', 'n/a')}` preset's training options. "
        "On CPU, peak memory is the process resident set size and the increase is over the resident set size when "
        "training started; on CUDA it is the allocator's peak.",
        "",
        table,
        "",
        "## Ratios",
        "",
        ratios,
        "",
        f"Hardware: {hardware.get('cpu_count', 'n/a')} CPUs, {hardware.get('torch_threads', 'n/a')} torch threads, "
        f"CUDA {hardware.get('cuda', 'n/a')}{' (' + hardware['gpu'] + ')' if hardware.get('gpu') else ''}; load average "
        f"{_fmt((load.get('before') or [math.nan])[0], 2)} before and {_fmt((load.get('after') or [math.nan])[0], 2)} after; "
        f"torch {packages.get('torch')}, opacus {packages.get('opacus')}, git {str(git.get('commit'))[:10]}"
        f"{' (dirty)' if git.get('dirty') else ''}.",
        "",
    ]
    out = out or path.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("Benchmarks\n" + table + "\n\nRatios\n" + ratios)
    print(f"\nBenchmark table: {out.resolve()}")
    return out


def plot_privacy_utility(results: list[dict], path: Path) -> Optional[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    private = defaultdict(list)
    flat = defaultdict(list)
    for result in results:
        f1 = result["metrics"]["test"]["weighted_f1"]
        if f1 is None:
            continue
        epsilon = _epsilon(result)
        if epsilon is None:
            flat[result["config"]["method"]].append(f1)
        else:
            private[result["config"]["method"]].append((epsilon, f1))
    if not private and not flat:
        return None
    figure, axis = plt.subplots(figsize=(6, 4))
    for method, points in private.items():
        points.sort()
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method)
    styles = iter(["--", ":", "-."] * 3)
    for method, values in sorted(flat.items(), key=lambda item: METHOD_ORDER.get(item[0], 9)):
        axis.axhline(float(np.mean(values)), linestyle=next(styles), color="gray" if method == "tfidf" else None, label=f"{method} (no DP)")
    if private:
        axis.set_xscale("log")
    axis.set_xlabel("target ε (log scale)")
    axis.set_ylabel("weighted F1 on test")
    axis.set_title("Privacy-utility trade-off")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_roc_curves(results: list[dict], results_folder: Path, path: Path) -> Optional[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    curves = []
    for result in results:
        audit = result.get("audit")
        if not audit:
            continue
        scores_path = results_folder / "runs" / result["run_id"] / audit["scores_file"]
        if not scores_path.is_file():
            continue
        with np.load(scores_path) as stored:
            is_member = stored["is_member"]
            for attack in audit["attacks"]:
                fpr, tpr, _ = roc_curve(is_member, stored[attack])
                epsilon = _epsilon(result)
                label = f"{result['config']['method']}{'' if epsilon is None else f' ε={epsilon:g}'} · {attack}"
                curves.append((label, fpr, tpr))
    if not curves:
        return None
    figure, axis = plt.subplots(figsize=(6, 5))
    for label, fpr, tpr in curves:
        axis.plot(np.maximum(fpr, 1e-4), np.maximum(tpr, 1e-4), label=label, linewidth=1)
    axis.plot([1e-4, 1], [1e-4, 1], color="black", linestyle=":", linewidth=0.8, label="chance")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(1e-3, 1)
    axis.set_ylim(1e-3, 1)
    axis.set_xlabel("false positive rate (log)")
    axis.set_ylabel("true positive rate (log)")
    axis.set_title("Membership inference ROC")
    axis.legend(fontsize=6, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(results_folder: Path, out: Optional[Path] = None) -> Path:
    """Write ``report.md`` and its plots for ``results_folder``; print the tables; return the report path."""
    results = sorted(iter_results(results_folder), key=_sort_key)
    if not results:
        raise FileNotFoundError(f"no finished runs in {results_folder}; run `python -m bench.run` first.")
    out = out or Path("reports") / results_folder.resolve().name
    out.mkdir(parents=True, exist_ok=True)

    utility = tabulate(utility_rows(results), headers=UTILITY_HEADERS, tablefmt="github")
    leakage_table = leakage_rows(results)
    leakage = tabulate(leakage_table, headers=LEAKAGE_HEADERS, tablefmt="github") if leakage_table else "_No audit was run._"
    canary_table = canary_rows(results)
    canaries = tabulate(canary_table, headers=canary_headers(results), tablefmt="github") if canary_table else "_No run inserted canaries._"
    slice_table, slices_excluded = slice_rows(results)
    slices = tabulate(slice_table, headers=SLICE_HEADERS, tablefmt="github") if slice_table else "_No per-label slice has enough reports._"
    performance = tabulate(performance_rows(results), headers=PERFORMANCE_HEADERS, tablefmt="github")
    ratios = dp_ratios(results)
    agreement_table = agreement_rows(results)
    utility_plot = plot_privacy_utility(results, out / "privacy_utility.png")
    roc_plot = plot_roc_curves(results, results_folder, out / "roc_curves.png")

    excluded = sorted({name for r in results for name in (r["metrics"]["test"].get("excluded_labels") or [])})
    environment = results[0]["environment"]
    lines = [
        f"# Utility and leakage report: `{results_folder.resolve().name}`",
        "",
        f"{len(results)} finished runs. Weighted F1 is the headline (support-weighted over labels with a positive in "
        "the test split); the interval is a 95% percentile bootstrap over test reports. Thresholds were chosen on validation data.",
        "",
        "## Utility",
        "",
        utility,
        "",
        f"Labels excluded from the averages because the test split has no positive: {', '.join(excluded) if excluded else 'none'}.",
        "",
        "## Leakage",
        "",
        "Members are the positive class and a larger attack score means member; AUC 0.5 is chance. "
        "`loss` is the LOSS attack, `reference` compares the target's loss with reference models that did not train on the report, "
        "`rmia` is RMIA on the same reference models, and `blind` is a validity row: a text-only classifier that never sees "
        "the model, so an AUC far from 0.5 there means the two sides differ in their texts, not only in membership. "
        "The ROC ε lower bound is the largest epsilon the attack's ROC curve rules out at 95% confidence (Clopper-Pearson "
        "bounds, Bonferroni-corrected over thresholds) at the run's delta; a small audit pool gives a bound near 0. "
        "Membership is drawn per patient, so with several reports per patient it is an estimate rather than a guaranteed bound. "
        "`lira-offline` and `lira-online` are LiRA on the same reference models. "
        "Brackets hold 95% bootstrap intervals over the audit pool (200 resamples). "
        "`wall s` is the attack's scoring time plus, for the attacks that read reference models, the time to train them "
        "(zero when they came from the cache).",
        "",
        leakage,
        "",
        "## Extraction and one-run audit",
        "",
        "Synthetic canaries (a fixed template with a random 9-digit secret and a random label pattern that the text does not "
        "name) are added to the target's training data only. Exposure canaries are inserted k times (×k), and their exposure ranks "
        "the loss on the true secret among other secrets. One-run canaries are each inserted once with probability 1/2; "
        "the one-run audit (Steinke, Nasr and Jagielski, 2023) guesses which were inserted from their losses and turns the "
        "correct guesses into an epsilon lower bound at 95% confidence, so for a correct DP run it exceeds ε spent "
        "with probability at most 5%.",
        "",
        canaries,
        "",
        *canary_notes(results),
        "",
        "## Teacher labels",
        "",
        "Agreement of each teacher labeler with the gold labels on the test split (a cell counts where both are scored).",
        "",
        tabulate(agreement_table, headers=AGREEMENT_HEADERS, tablefmt="github") if agreement_table else "_Every run trained on gold labels._",
        "",
        "## Performance",
        "",
        performance,
        "",
        *(ratios or ["- no DP-LoRA run with a matching LoRA run"]),
        "",
        f"Hardware: {environment['hardware'].get('cpu_count')} CPUs, CUDA {environment['hardware'].get('cuda')}, "
        f"torch {environment['packages'].get('torch')}, opacus {environment['packages'].get('opacus')}, "
        f"git {str(environment['git'].get('commit'))[:10]}{' (dirty)' if environment['git'].get('dirty') else ''}.",
        "",
        "## Plots",
        "",
    ]
    if utility_plot:
        lines += ["![privacy-utility](privacy_utility.png)", ""]
    if roc_plot:
        lines += ["![ROC curves, log scale](roc_curves.png)", ""]
    lines += [
        "## Appendix: per-label slices",
        "",
        "Each attack's ROC metrics on the audit-pool reports positive for one label. "
        f"{slices_excluded} slices are left out because too few of their reports are members or non-members.",
        "",
        slices,
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))

    print("Utility\n" + utility + "\n\nLeakage\n" + leakage + "\n\nExtraction and one-run audit\n" + canaries)
    print("\nPerformance\n" + performance + "\n" + "\n".join(ratios))
    print(f"\nReport: {path.resolve()}")
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description="Write the markdown report of a sweep.")
    parser.add_argument("--results", help="results folder of a sweep (default: the latest under results/)")
    parser.add_argument("--out", help="report folder (default: reports/<results folder name>)")
    parser.add_argument(
        "--benchmarks",
        help="benchmark JSON file written by `pytest bench` (e.g. reports/benchmarks.json); writes its performance "
        "table to the --out folder, or next to the file, and skips the sweep report unless --results is given",
    )
    args = parser.parse_args(argv)
    try:
        if args.benchmarks:
            write_benchmark_table(Path(args.benchmarks), Path(args.out) / "benchmarks.md" if args.out else None)
            if not args.results:
                return 0
        folder = Path(args.results) if args.results else latest_results_folder(Path("results"))
        if not folder.is_dir():
            raise FileNotFoundError(f"results folder {folder} does not exist; pass the --out folder of a sweep.")
        write_report(folder, Path(args.out) if args.out else None)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
