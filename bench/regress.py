"""Regression gate: compare a fresh sweep with the committed baseline of utility, leakage and privacy.

Usage::

    python -m bench.regress --results results/smoke
    python -m bench.regress --results /tmp/smoke-seeds --update --reason "retuned the smoke preset"

Checks, one per row of the printed table:

- ``weighted_f1``: test weighted F1 of each method (and epsilon), averaged over the sweep's seeds.
  It fails when it is more than the tolerance below the baseline.
- ``attack_auc``: AUC of each attack on each DP run. It fails when it is more than the tolerance
  above the baseline.
- ``epsilon_rdp``: the spent epsilon of each DP run. It fails when it is above the run's target
  epsilon, with no tolerance. A missing or non-finite value (written as null) counts as infinite.
- ``epsilon_lower_bound``: every empirical lower bound found under the run's ``audit`` (a key named
  ``epsilon_lower_bound`` holding a number or a dict with an ``epsilon`` entry). It fails when it is
  above the target epsilon, with no tolerance.

Baseline values are means over the seeds of the sweep the baseline was built from. Each tolerance
is ``max(3 * std, floor)``, where std is the sample standard deviation over those seeds and the
floors are in ``TOLERANCE_FLOORS``. The baseline file stores each tolerance next to its value.

Exit status: 0 when every check passes, 1 when any check fails, 2 for bad input (a missing
folder, no finished runs, or results that do not match the baseline's schema, data or grid).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from tabulate import tabulate

from bench.results import SCHEMA_VERSION, load_result, write_json_atomic

BASELINE_FORMAT = 1
DEFAULT_BASELINE = Path("bench/baselines/smoke.json")
SPREAD_FACTOR = 3.0
TOLERANCE_FLOORS = {"weighted_f1": 0.03, "attack_auc": 0.03}

EXIT_PASS, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2
_MISSING = object()


class GateInputError(ValueError):
    """Raised when the results or the baseline cannot be compared (exit status 2)."""


@dataclass(frozen=True)
class Check:
    """One comparison of the gate; ``passed`` is decided by ``limit`` and ``higher_is_better``."""

    metric: str
    key: str
    value: float
    limit: float
    higher_is_better: bool
    baseline: Optional[float] = None
    tolerance: Optional[float] = None

    @property
    def passed(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


def run_key(result: dict) -> str:
    """Return the baseline key of a run: its method, the target epsilon of a private method, and non-gold labels."""
    config = result["config"]
    key = config["method"]
    if config.get("privacy"):
        key += f" eps={config['privacy']['epsilon']:g}"
    if config.get("label_source", "gold") != "gold":
        key += f" labels={config['label_source']}"
    return key


def load_sweep(results: Path) -> list[dict]:
    """Load the finished runs of the sweep in ``results``.

    When ``sweep.json`` lists the sweep's run ids, exactly those runs are read and each must have
    finished; otherwise every finished run under ``runs/`` is read. Raises ``FileNotFoundError``
    for a missing folder and ``GateInputError`` for an unfinished sweep or no runs.
    """
    if not results.is_dir():
        raise FileNotFoundError(f"results folder {results} does not exist; run the sweep first (tox -e smoke).")

    sweep_file = results / "sweep.json"
    if sweep_file.is_file():
        run_ids = json.loads(sweep_file.read_text()).get("runs") or []
        loaded = []
        for run_id in run_ids:
            result = load_result(results / "runs" / run_id)
            if result is None:
                raise GateInputError(f"run {run_id} of the sweep in {results} has no finished result.json; rerun the sweep.")
            loaded.append(result)
    else:
        runs = results / "runs"
        folders = sorted(runs.iterdir()) if runs.is_dir() else []
        loaded = [result for result in (load_result(folder) for folder in folders) if result is not None]
    if not loaded:
        raise GateInputError(f"no finished runs in {results}; run the sweep first (tox -e smoke).")

    for result in loaded:
        _check_schema(result)
    return loaded


def _check_schema(result: dict) -> None:
    run_id = result.get("run_id", "<no run_id>")
    if result.get("schema_version") != SCHEMA_VERSION:
        raise GateInputError(
            f"run {run_id} has results schema {result.get('schema_version')!r}, but this gate reads schema "
            f"{SCHEMA_VERSION}; rerun the sweep with this version of the suite."
        )
    for path in ("config.method", "config.dataset", "config.model", "config.train.seed", "metrics.test", "method.private"):
        if _lookup(result, path) is _MISSING:
            raise GateInputError(f"run {run_id} has no field {path}; the file does not follow results schema {SCHEMA_VERSION}.")
    if result["method"]["private"] and result.get("privacy") is None:
        raise GateInputError(f"private run {run_id} has no privacy block; the file does not follow results schema {SCHEMA_VERSION}.")


def _lookup(tree: dict, path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _number(value: Any) -> float:
    """Return ``value`` as a float; null (how non-finite numbers are stored) becomes NaN."""
    return float("nan") if value is None else float(value)


def _spent_epsilon(value: Any) -> float:
    """Return a spent epsilon; null is how the results store infinity, so it becomes ``inf``."""
    return math.inf if value is None else float(value)


def epsilon_lower_bounds(audit: Optional[dict]) -> list[tuple[str, float]]:
    """Return (location, value) of every ``epsilon_lower_bound`` entry under ``audit``, depth first."""
    found: list[tuple[str, float]] = []

    def visit(node: Any, location: str) -> None:
        if not isinstance(node, dict):
            return
        for name, child in node.items():
            where = f"{location}.{name}" if location else name
            if name == "epsilon_lower_bound":
                value = child.get("epsilon") if isinstance(child, dict) else child
                found.append((where, _spent_epsilon(value)))
            else:
                visit(child, where)

    visit(audit or {}, "audit")
    return found


def _grid(results: Iterable[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for result in results:
        grouped.setdefault(run_key(result), []).append(result)
    return grouped


def _run_label(result: dict) -> str:
    return f"{run_key(result)} seed={result['config']['train']['seed']}"


def compare(results: list[dict], baseline: dict) -> list[Check]:
    """Return every check of ``results`` against ``baseline``; raise ``GateInputError`` when they do not match."""
    _check_comparable(results, baseline)
    grouped = _grid(results)

    checks: list[Check] = []
    for key, entry in baseline["weighted_f1"].items():
        values = [_number(r["metrics"]["test"].get("weighted_f1")) for r in grouped[key]]
        value = statistics.fmean(values)
        checks.append(
            Check("weighted_f1", key, value, entry["value"] - entry["tolerance"], True, entry["value"], entry["tolerance"])
        )

    for key, attacks in baseline["attack_auc"].items():
        for result in grouped[key]:
            measured = (result.get("audit") or {}).get("attacks") or {}
            for attack, entry in attacks.items():
                if attack not in measured:
                    raise GateInputError(
                        f"run {result['run_id']} has no {attack!r} attack, which the baseline checks; "
                        "rerun the sweep with the preset's attacks or update the baseline."
                    )
                value = _number(measured[attack].get("auc"))
                label = f"{_run_label(result)} {attack}"
                checks.append(
                    Check("attack_auc", label, value, entry["value"] + entry["tolerance"], False, entry["value"], entry["tolerance"])
                )

    for result in results:
        if not result["method"]["private"]:
            continue
        target = float(result["config"]["privacy"]["epsilon"])
        spent = _spent_epsilon(result["privacy"].get("epsilon_rdp"))
        checks.append(Check("epsilon_rdp", _run_label(result), spent, target, False))
        for location, bound in epsilon_lower_bounds(result.get("audit")):
            checks.append(Check("epsilon_lower_bound", f"{_run_label(result)} {location}", bound, target, False))
    return checks


def unchecked_attacks(results: list[dict], baseline: dict) -> list[str]:
    """Return the sorted ``key attack`` pairs of DP runs that the baseline has no AUC for."""
    checked = baseline["attack_auc"]
    missing = set()
    for result in results:
        if not result["method"]["private"]:
            continue
        key = run_key(result)
        for attack in ((result.get("audit") or {}).get("attacks") or {}):
            if attack not in checked.get(key, {}):
                missing.add(f"{key} {attack}")
    return sorted(missing)


def _check_comparable(results: list[dict], baseline: dict) -> None:
    if baseline.get("format") != BASELINE_FORMAT:
        raise GateInputError(f"the baseline has format {baseline.get('format')!r}, but this gate reads format {BASELINE_FORMAT}.")
    if baseline.get("schema_version") != SCHEMA_VERSION:
        raise GateInputError(
            f"the baseline was built from results schema {baseline.get('schema_version')!r}, but the results use "
            f"schema {SCHEMA_VERSION}; rebuild it with --update."
        )
    for field, path in (("dataset", "config.dataset"), ("model", "config.model"), ("dataset_fingerprint", "dataset_fingerprint")):
        found = sorted({str(_lookup(r, path)) for r in results})
        if found != [str(baseline[field])]:
            raise GateInputError(
                f"the results have {field} {found}, but the baseline was built on {baseline[field]!r}; "
                "compare sweeps of the same data and model, or rebuild the baseline with --update."
            )

    keys = set(_grid(results))
    expected = set(baseline["weighted_f1"])
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(keys - expected)
        raise GateInputError(
            f"the results and the baseline cover different runs (missing from the results: {missing}; not in the "
            f"baseline: {extra}); rerun the preset the baseline was built from, or rebuild it with --update."
        )


def _spread(values: list[float]) -> Optional[float]:
    return statistics.stdev(values) if len(values) > 1 else None


def _entry(values: list[float], floor: float, previous: Optional[dict]) -> dict:
    """Return one baseline entry: mean, seed values, std and tolerance = max(3 * std, floor).

    With a single seed the spread cannot be measured, so the previous baseline's std is kept.
    Without a previous std it raises ``GateInputError``, because the spread needs several seeds.
    """
    std = _spread(values)
    std_source = "seeds"
    if std is None:
        if previous is None or previous.get("std") is None:
            raise GateInputError(
                "the results hold one seed per run, so the seed-to-seed spread cannot be measured and there is no "
                "previous baseline to keep it from; build the baseline from a sweep over several seeds (--seeds 0,1,2)."
            )
        std, std_source = previous["std"], "kept from the previous baseline"
    return {
        "value": statistics.fmean(values),
        "seed_values": values,
        "std": std,
        "std_source": std_source,
        "tolerance": max(SPREAD_FACTOR * std, floor),
    }


def build_baseline(results: list[dict], *, reason: str, git: dict, source: str, previous: Optional[dict] = None) -> dict:
    """Return a baseline built from ``results``: means over seeds with their spread and tolerances."""
    if not reason.strip():
        raise GateInputError("--reason is empty; say why the baseline changes.")
    for field, path in (("dataset", "config.dataset"), ("model", "config.model"), ("dataset_fingerprint", "dataset_fingerprint")):
        if len({str(_lookup(r, path)) for r in results}) != 1:
            raise GateInputError(f"the results mix several values of {field}; build a baseline from one sweep.")

    previous = previous or {}
    grouped = _grid(results)
    weighted_f1: dict[str, dict] = {}
    attack_auc: dict[str, dict] = {}
    for key, runs in sorted(grouped.items()):
        f1_values = [_number(r["metrics"]["test"].get("weighted_f1")) for r in runs]
        if any(math.isnan(v) for v in f1_values):
            raise GateInputError(f"a {key} run has no weighted F1; a baseline needs a value for every run.")
        weighted_f1[key] = _entry(f1_values, TOLERANCE_FLOORS["weighted_f1"], previous.get("weighted_f1", {}).get(key))
        if not runs[0]["method"]["private"]:
            continue
        attack_names = sorted(set.intersection(*(set(((r.get("audit") or {}).get("attacks") or {})) for r in runs)))
        attack_auc[key] = {}
        for attack in attack_names:
            values = [_number(r["audit"]["attacks"][attack].get("auc")) for r in runs]
            attack_auc[key][attack] = _entry(values, TOLERANCE_FLOORS["attack_auc"], previous.get("attack_auc", {}).get(key, {}).get(attack))

    first = results[0]
    return {
        "format": BASELINE_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "dataset": first["config"]["dataset"],
        "model": first["config"]["model"],
        "dataset_fingerprint": first["dataset_fingerprint"],
        "seeds": sorted({r["config"]["train"]["seed"] for r in results}),
        "value_rule": "mean over seeds",
        "tolerance_rule": (
            f"tolerance = max({SPREAD_FACTOR:g} * sample std over seeds, floor); floors: "
            + ", ".join(f"{name} {floor:g}" for name, floor in TOLERANCE_FLOORS.items())
            + "; weighted F1 fails below value - tolerance, attack AUC fails above value + tolerance; "
            "spent epsilon and epsilon lower bounds fail above the run's target epsilon, with no tolerance"
        ),
        "updated": {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"),
            "reason": reason.strip(),
            "source": source,
        },
        "weighted_f1": weighted_f1,
        "attack_auc": attack_auc,
    }


def load_baseline(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"baseline {path} does not exist; build one with --update --reason TEXT.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise GateInputError(f"baseline {path} is not valid JSON ({error}); restore it from git.") from None


def _format(value: Optional[float]) -> str:
    if value is None:
        return "—"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    return f"{value:.4f}"


def check_table(checks: Sequence[Check]) -> str:
    rows = [
        [
            check.metric,
            check.key,
            _format(check.value),
            _format(check.baseline),
            _format(check.tolerance),
            ("≥ " if check.higher_is_better else "≤ ") + _format(check.limit),
            "pass" if check.passed else "FAIL",
        ]
        for check in checks
    ]
    return tabulate(rows, headers=["check", "run", "value", "baseline", "tolerance", "limit", "result"], tablefmt="github")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.regress", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", required=True, help="results folder of a finished sweep, e.g. results/smoke")
    parser.add_argument("--baseline", default=str(DEFAULT_BASELINE), help=f"baseline JSON file (default: {DEFAULT_BASELINE})")
    parser.add_argument("--update", action="store_true", help="rewrite the baseline from --results instead of checking")
    parser.add_argument("--reason", help="why the baseline changes; required with --update and written into the file")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    results_folder, baseline_path = Path(args.results), Path(args.baseline)
    if args.update and not (args.reason and args.reason.strip()):
        print("error: --update needs --reason TEXT saying why the baseline changes; the baseline was not written.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.reason and not args.update:
        print("error: --reason is only used with --update; drop it or add --update.", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        results = load_sweep(results_folder)
        if args.update:
            from bench.environment import git_state

            previous = load_baseline(baseline_path) if baseline_path.is_file() else None
            baseline = build_baseline(results, reason=args.reason, git=git_state(Path.cwd()), source=str(results_folder), previous=previous)
            write_json_atomic(baseline_path, baseline)
            print(f"baseline written: {baseline_path} ({len(results)} runs, seeds {baseline['seeds']})")
            return EXIT_PASS
        baseline = load_baseline(baseline_path)
        checks = compare(results, baseline)
    except (FileNotFoundError, GateInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT

    print(check_table(checks))
    unchecked = unchecked_attacks(results, baseline)
    if unchecked:
        print(f"\nnot checked, because the baseline has no value for them: {', '.join(unchecked)}")
    failed = [check for check in checks if not check.passed]
    if failed:
        print(f"\nregression: {len(failed)} of {len(checks)} checks failed against {baseline_path}")
        return EXIT_REGRESSION
    print(f"\npassed: {len(checks)} checks against {baseline_path}")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
