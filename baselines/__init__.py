"""Runners for full fine-tuning, LoRA, DP-LoRA and the TF-IDF floor, on one data and metric layer."""

from baselines.base import METHODS, FitResult, Predictor, Runner  # noqa: F401
