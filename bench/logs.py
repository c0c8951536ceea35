"""Logging set-up for the entry points; library modules only create their own loggers."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Optional


def configure_logging(log_file: Optional[Path] = None, *, verbose: bool = False) -> None:
    """Send suite logs to stderr and, if given, to ``log_file``; quiet the chatty third-party loggers."""
    level = logging.DEBUG if verbose else logging.INFO
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True)
    for noisy in ("transformers", "datasets", "peft", "opacus", "urllib3", "filelock", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="opacus")
    warnings.filterwarnings("ignore", category=FutureWarning)
