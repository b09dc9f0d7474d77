"""Durations as written in pgwarden.yml and on the command line: ``5s``, ``15min``, ``2h``, ``30d``."""

from __future__ import annotations

import math
import re

_UNITS = {
    "ms": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")

DURATION_HELP = "a duration such as 500ms, 5s, 15min, 2h or 30d"


def parse_duration(text: str | int | float) -> float:
    """Return seconds. Bare numbers are seconds. Raises ValueError with a readable message."""
    if isinstance(text, bool):
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
        return float(text)
    match = _PATTERN.match(text.lower())
    if not match or (match.group(2) not in _UNITS and match.group(2) != ""):
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    seconds = float(match.group(1)) * _UNITS.get(match.group(2), 1.0)
    if not math.isfinite(seconds):  # 400 digits of days
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form: 850ms, 12.3s, 4min 05s, 2h 10min, 3d 4h."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}min {int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}min"
    return f"{int(seconds // 86400)}d {int(seconds % 86400 // 3600)}h"


def pg_duration(seconds: float) -> str:
    """A value PostgreSQL accepts for lock_timeout / statement_timeout."""
    return f"{round(seconds * 1000)}ms"
