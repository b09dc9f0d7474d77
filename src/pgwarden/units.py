"""Byte sizes for people: one formatter for every message, report and log line.

Binary units (KiB, MiB, GiB, TiB, counted as ``pg_size_pretty`` counts), one decimal. The log
said "MB" for millions of bytes, the reports "MB" for 2^20 and "MiB" elsewhere; now everything
pgwarden prints says the same thing for the same size.
"""

from __future__ import annotations

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(size: float) -> str:
    """``512 B``, ``4.0 KiB``, ``1.5 MiB``, ``2.3 GiB``: binary units, one decimal."""
    value, unit = float(size), "B"
    for bigger in _BYTE_UNITS[1:]:
        if abs(value) < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
