"""Teacher labelers: turn report texts into CheXpert-style label values that small models train on.

A labeler returns, for each (report, label), 1.0 (positive), 0.0 (negative), -1.0 (uncertain) or
NaN (not mentioned). ``to_targets`` maps those values to training targets and a loss mask by the
same uncertain policy the dataset adapters use. Importing this package registers the built-in
labelers: ``"rules"`` (phrase rules with negation and uncertainty scopes, no torch) and ``"llm"``
(yes/no scoring with a local causal language model), which ``get_labeler`` also accepts as
``"llm:<model name>"``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from bench.config import UNCERTAIN_POLICIES
from bench.datasets.sections import chexpert_to_label
from bench.registry import Registry

POSITIVE = 1.0
NEGATIVE = 0.0
UNCERTAIN = -1.0
NOT_MENTIONED = math.nan


@runtime_checkable
class Labeler(Protocol):
    """A teacher that labels report texts.

    Attributes:
        name: Registry name of the labeler, for example ``"rules"`` or ``"llm:smollm2-135m"``.
        version: Version of the rules or the prompt; a new version invalidates cached labels.
    """

    name: str
    version: str

    def label(self, texts: list[str], label_names: tuple[str, ...]) -> np.ndarray:
        """Return a float array of shape [len(texts), len(label_names)] with values in {1, 0, -1, NaN}."""
        ...


LabelerFactory = Callable[..., Labeler]

LABELERS: Registry[LabelerFactory] = Registry("labeler")

LLM_PREFIX = "llm:"


def get_labeler(name: str, **options: Any) -> Labeler:
    """Build the labeler registered as ``name``, passing ``options`` to its constructor.

    ``"llm:<model>"`` builds the ``"llm"`` labeler for the model registered as ``<model>`` (see
    ``bench.models.MODELS``) or for a local checkpoint folder; the model loads on first use.
    """
    if name.startswith(LLM_PREFIX):
        model = name[len(LLM_PREFIX):].strip()
        if not model:
            raise ValueError(f"labeler name {name!r} has no model; write it as 'llm:<model>', for example 'llm:smollm2-135m'.")
        return LABELERS.get("llm")(model=model, **options)
    return LABELERS.get(name)(**options)


def to_targets(values: np.ndarray, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Map labeler values to float32 ``(labels, mask)`` arrays of the same shape.

    The mapping is ``chexpert_to_label``'s: 1.0 gives (1, 1), 0.0 and NaN (not mentioned) give
    (0, 1), and -1.0 (uncertain) gives (1, 1) under ``"ones"``, (0, 1) under ``"zeros"`` and
    (0, 0) under ``"mask"``.

    Raises:
        ValueError: for an unknown policy or a value outside {1.0, 0.0, -1.0, NaN}.
    """
    if policy not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain policy {policy!r} is invalid; use one of {UNCERTAIN_POLICIES}.")
    values = np.asarray(values, dtype=np.float64)
    not_mentioned = np.isnan(values)
    known = np.isin(values, (POSITIVE, NEGATIVE, UNCERTAIN)) | not_mentioned
    if not known.all():
        bad = np.unique(values[~known])[:5].tolist()
        raise ValueError(f"labeler values {bad} are invalid; a labeler returns only 1.0, 0.0, -1.0 or NaN.")

    labels = np.zeros(values.shape, dtype=np.float32)
    mask = np.ones(values.shape, dtype=np.float32)
    for value in (POSITIVE, NEGATIVE, UNCERTAIN):
        cells = values == value
        labels[cells], mask[cells] = chexpert_to_label(value, column="labeler value", policy=policy)
    labels[not_mentioned], mask[not_mentioned] = chexpert_to_label(None, column="labeler value", policy=policy)

    return labels, mask


# Registration happens on import; keep these imports after LABELERS is defined.
from bench.labelers import llm, rules  # noqa: E402,F401
