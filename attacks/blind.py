"""A model-free "blind" membership baseline after Das, Zhang and Tramèr (2024), "Blind Baselines Beat
Membership Inference Attacks for Foundation Models".

The baseline never queries the target model. It learns to tell members from non-members from
the report text alone. An AUC well above 0.5 therefore shows that members and non-members differ
in distribution (for example by date, site or template), and that part of any attack's AUC may
come from that shift and not from the model. With a random member split it should stay near 0.5.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline


def blind_scores(texts: Sequence[str], is_member: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Score each report by an out-of-fold TF-IDF + logistic-regression member classifier.

    A stratified k-fold split (shuffled with ``seed``) holds out each report exactly once. The
    classifier, word unigrams and bigrams with sublinear TF-IDF fitted on the training folds
    only, then logistic regression (C = 1), scores the held-out fold. So every report is scored
    by a model that never saw it. The texts stay in memory and are neither logged nor returned.

    Args:
        texts: n report texts.
        is_member: bool array [n], True for members.
        folds: number of folds, >= 2 and at most the size of the smaller class.
        seed: seed of the fold assignment.

    Returns:
        float64 array [n] of out-of-fold log-odds of membership, larger = member.

    Raises:
        ValueError: on mismatched lengths, an invalid ``folds``, or a class smaller than ``folds``.
    """
    is_member = np.asarray(is_member)
    if is_member.ndim != 1 or len(texts) != is_member.size:
        raise ValueError(f"texts ({len(texts)}) and is_member {is_member.shape} must have one entry per report.")
    if not np.isin(is_member, (0, 1)).all():
        raise ValueError("is_member must be boolean, or 0/1 values.")
    is_member = is_member.astype(bool)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds={folds!r} is invalid. Use an integer >= 2.")
    smaller_class = int(min(is_member.sum(), (~is_member).sum()))
    if smaller_class < folds:
        raise ValueError(
            f"The smaller class has {smaller_class} reports, fewer than folds={folds}. "
            "Use fewer folds or a larger audit pool."
        )

    texts = np.asarray(list(texts), dtype=object)
    scores = np.empty(is_member.size, dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(np.zeros(is_member.size), is_member):
        classifier = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(C=1.0, max_iter=1000),
        )
        classifier.fit(texts[train_index], is_member[train_index])
        scores[test_index] = classifier.decision_function(texts[test_index])

    return scores
