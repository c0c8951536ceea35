"""The results store: one folder per run with ``result.json``, written atomically.

Layout of a results folder::

    sweep.json                 the sweep's preset, grid and run ids
    runs/<run_id>/result.json  the self-describing result of one run (no text, no ids)
    runs/<run_id>/checkpoint/  safetensors weights, thresholds and manifest.json
    runs/<run_id>/signals.npz  audit logits and membership labels, to recompute every attack
    runs/<run_id>/attack_scores.npz  each attack's scores on the audit pool
    runs/<run_id>/canary_scores.npz  canary losses, exposures and the one-run inclusion bits
    references/<key>/          cached reference-model logits, keyed by what defines them
    sweep.log                  the log of the sweep
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

SCHEMA_VERSION = 1


def to_jsonable(value: Any) -> Any:
    """Convert numpy values and non-finite floats (written as null) into JSON-safe objects."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(to_jsonable(payload), stream, indent=2, sort_keys=True, allow_nan=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    os.close(handle)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_folder(results: Path, run_id: str) -> Path:
    return results / "runs" / run_id


def load_result(folder: Path) -> dict | None:
    """Return the finished result in ``folder``, or ``None`` if the run did not finish."""
    path = folder / "result.json"
    if not path.is_file():
        return None
    with path.open() as stream:
        result = json.load(stream)
    return result if result.get("status") == "complete" else None


def iter_results(results: Path) -> Iterator[dict]:
    """Yield every finished result under ``results``, ordered by run id."""
    runs = results / "runs"
    if not runs.is_dir():
        return
    for folder in sorted(runs.iterdir()):
        result = load_result(folder)
        if result is not None:
            yield result


def latest_results_folder(root: Path) -> Path:
    """Return the most recently written sweep folder under ``root``."""
    candidates = [p.parent for p in root.glob("*/sweep.json")] + ([root] if (root / "sweep.json").is_file() else [])
    if not candidates:
        raise FileNotFoundError(
            f"no sweep results under {root}; run `python -m bench.run` first or pass --results FOLDER."
        )
    return max(candidates, key=lambda p: (p / "sweep.json").stat().st_mtime)
