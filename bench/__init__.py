"""Shared core of the benchmark: configuration, data layer, metrics, model registry and results store."""

__version__ = "0.1.0"
