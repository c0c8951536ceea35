"""Register the LiRA and RMIA attacks ("lira-offline", "lira-online", "rmia") in ``ATTACKS`` on import."""

from attacks import lira, rmia  # noqa: F401
