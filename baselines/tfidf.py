"""The floor a practitioner tries first: TF-IDF n-grams with one-vs-rest logistic regression."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from baselines.base import FitResult, register_runner
from bench.config import RunConfig
from bench.records import Corpus

logger = logging.getLogger(__name__)


class TfidfPredictor:
    """A fitted TF-IDF vectorizer and one logistic regression per label.

    A label with a single class in training gets a constant logit (the log-odds of that class),
    because scikit-learn cannot fit a classifier on one class.
    """

    def __init__(self, vectorizer, classifiers: list, constants: np.ndarray, label_names: tuple[str, ...]) -> None:
        self.vectorizer = vectorizer
        self.classifiers = classifiers
        self.constants = constants
        self.label_names = tuple(label_names)

    def predict_logits(self, corpus: Corpus, *, progress: bool = False) -> np.ndarray:
        if tuple(corpus.label_names) != self.label_names:
            raise ValueError("the corpus label set differs from the checkpoint's; evaluate with the training dataset.")
        features = self.vectorizer.transform(corpus.texts())
        logits = np.tile(self.constants, (len(corpus), 1)).astype(np.float32)
        for index, classifier in enumerate(self.classifiers):
            if classifier is not None:
                logits[:, index] = classifier.decision_function(features)
        return logits

    def save(self, folder: Path) -> list[str]:
        """Write the coefficients and IDF weights as safetensors (the vocabulary stays out: it is report text)."""
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"idf": self.vectorizer.idf_.astype(np.float32), "constants": self.constants.astype(np.float32)}
        for index, classifier in enumerate(self.classifiers):
            if classifier is not None:
                tensors[f"coef.{index}"] = classifier.coef_.astype(np.float32).ravel()
                tensors[f"intercept.{index}"] = classifier.intercept_.astype(np.float32)
        save_file(tensors, str(folder / "tfidf_logreg.safetensors"))
        return ["tfidf_logreg.safetensors"]


class TfidfLogisticRegression:
    name = "tfidf"
    private = False

    def fit(self, train: Corpus, validation: Corpus, config: RunConfig, *, progress: bool = True) -> FitResult:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        started = time.perf_counter()
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        features = vectorizer.fit_transform(train.texts())
        labels = train.label_matrix()
        mask = train.mask_matrix()
        classifiers: list = []
        constants = np.zeros(len(train.label_names), dtype=np.float32)
        for index in range(len(train.label_names)):
            scored = mask[:, index] > 0
            target = labels[scored, index]
            if len(np.unique(target)) < 2:
                rate = float(target.mean()) if len(target) else 0.0
                rate = min(max(rate, 1e-4), 1 - 1e-4)
                constants[index] = np.log(rate / (1 - rate))
                classifiers.append(None)
                continue
            classifier = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced", random_state=config.train.seed)
            classifier.fit(features[scored], target)
            classifiers.append(classifier)
        seconds = time.perf_counter() - started
        stats = {
            "train_seconds": round(seconds, 3),
            "device": "cpu",
            "trainable_parameters": int(features.shape[1] * len(train.label_names)),
            "optimizer_steps": 0,
            "samples_per_second": round(len(train) / seconds, 1) if seconds > 0 else None,
        }
        return FitResult(predictor=TfidfPredictor(vectorizer, classifiers, constants, train.label_names), stats=stats)


register_runner(TfidfLogisticRegression())
