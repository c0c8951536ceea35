"""Membership-inference and extraction audits run against every checkpoint."""

from attacks.base import ATTACKS, AuditSignals, run_attack  # noqa: F401
