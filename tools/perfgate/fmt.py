"""Formatting of numbers for every output (console, summary.md, report.html, charts).

Pure functions of plain values: no verdict types, no I/O. ``None`` and non-finite
values print as "-".
"""

from __future__ import annotations

import math


def fmt_ns(value: float | None) -> str:
    """61.2 ns, 12.3 us, 4.56 ms, 1.23 s."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}" if value / scale < 100 else f"{value / scale:.0f} {unit}"
    return f"{value:.3g} ns" if abs(value) < 100 else f"{value:.0f} ns"


def fmt_value(value: float | None, metric: str) -> str:
    if metric in ("real_time", "cpu_time", "median", "mean", "p99", "p99_ns", "p50_ns", "p999_ns"):
        return fmt_ns(value)
    if value is None:
        return "-"
    return f"{value:.4g}"


def fmt_count(value: float | None) -> str:
    """Allocation counts: 0, 0.5, 1.25, 495, 4,880; amortised tiny ones as 2.3e-05."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def fmt_instr(value: float | None) -> str:
    """Instructions per operation: 89.3, 3,692, 914,506."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
