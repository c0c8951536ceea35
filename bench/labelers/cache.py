"""On-disk cache of teacher labels, keyed by labeler, model, version, label set and text digest.

One JSON file under ``cache_root() / "labels"`` stores the values of one (labeler name, model,
version, label set). Inside it each report is stored as the SHA-256 hex digest of its text and its
value list, NaN written as ``null``. The file contains no report text and no report id.

NOTE: the digest is unsalted, so anyone who has this cache and a candidate text can check whether
that text was labeled. The cache is therefore as sensitive as the token cache and stays on this
machine, outside the results folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Optional

import numpy as np

from bench.labelers import Labeler

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def text_digest(text: str) -> str:
    """Return the SHA-256 hex digest of a report text, encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def label_cache_folder() -> Path:
    """Return the folder of the label cache, ``cache_root() / "labels"``."""
    # Imported here because bench.data imports torch, which the rule labeler does not need.
    from bench.data import cache_root

    return cache_root() / "labels"


class CachedLabeler:
    """Wrap a labeler so that texts labeled before are read from disk instead of labeled again.

    The cache key is the wrapped labeler's ``name``, its ``model`` attribute (empty when it has
    none), its ``version`` and the label names. A new prompt or rules version therefore starts a
    new file. Within a file a text is found by its SHA-256 digest.

    NOTE: two processes that fill the same file at once both write whole files, and the later
    write drops the entries only the other one added. No entry is ever wrong, so a later call
    only labels those texts again.

    Args:
        labeler: The labeler to wrap.
        folder: Cache folder; ``label_cache_folder()`` when ``None``, read at each call.
    """

    def __init__(self, labeler: Labeler, *, folder: Optional[Path] = None) -> None:
        self.labeler = labeler
        self.name = labeler.name
        self.version = labeler.version
        self.model = getattr(labeler, "model", "")
        self._folder = folder

    def cache_file(self, label_names: tuple[str, ...]) -> Path:
        """Return the path of the cache file for this labeler's values over ``label_names``."""
        key = json.dumps([self.name, str(self.model), self.version, list(label_names)])
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
        stem = _UNSAFE_NAME_CHARACTERS.sub("_", self.name)
        folder = self._folder if self._folder is not None else label_cache_folder()
        return folder / stem / f"{digest}.json"

    def label(self, texts: list[str], label_names: tuple[str, ...]) -> np.ndarray:
        """Return the wrapped labeler's values, labeling only texts whose digest is not cached."""
        label_names = tuple(label_names)
        path = self.cache_file(label_names)
        entries = self._read(path, label_names)
        digests = [text_digest(text) for text in texts]

        missing: dict[str, str] = {}
        for digest, text in zip(digests, texts):
            if digest not in entries and digest not in missing:
                missing[digest] = text
        if missing:
            values = np.asarray(self.labeler.label(list(missing.values()), label_names), dtype=np.float64)
            expected = (len(missing), len(label_names))
            if values.shape != expected:
                raise ValueError(f"labeler {self.name!r} returned shape {values.shape}, expected {expected}.")
            for digest, row in zip(missing, values):
                entries[digest] = [None if math.isnan(value) else float(value) for value in row]
            self._write(path, label_names, entries)
        logger.info("label cache %s: %d of %d texts found, %d labeled", self.name, len(texts) - len(missing), len(texts), len(missing))

        rows = [[math.nan if value is None else value for value in entries[digest]] for digest in digests]
        return np.asarray(rows, dtype=np.float64).reshape(len(texts), len(label_names))

    def _read(self, path: Path, label_names: tuple[str, ...]) -> dict[str, list]:
        if not path.is_file():
            return {}
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            logger.warning("label cache file %s is unreadable (%s); labeling again", path, error)
            return {}
        if stored.get("format") != CACHE_FORMAT or stored.get("label_names") != list(label_names):
            logger.warning("label cache file %s has another format or label set; labeling again", path)
            return {}
        return dict(stored.get("entries", {}))

    def _write(self, path: Path, label_names: tuple[str, ...], entries: dict[str, list]) -> None:
        stored = {
            "format": CACHE_FORMAT,
            "labeler": self.name,
            "model": str(self.model),
            "version": self.version,
            "label_names": list(label_names),
            "entries": entries,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.tmp{os.getpid()}")
        temporary.write_text(json.dumps(stored), encoding="utf-8")
        os.replace(temporary, path)
