"""Risk review of pending migrations: ``review(migrations)`` -> findings (see engine.py)."""

from __future__ import annotations

from pgwarden.risk.engine import max_severity, review

__all__ = ["max_severity", "review"]
