"""Chart geometry for report.html: data -> SVG coordinates (plain dicts).

No chart library: each function maps values onto a small fixed canvas and returns
the coordinates; templates/report.html.j2 turns them into <svg> elements. Values
are nanoseconds (lower is better); every chart has its own linear scale, padded
so a lone point or identical values still draw.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

from perfgate.fmt import fmt_ns

# Canvas sizes in SVG units. The report's CSS scales each chart to the width of its
# card (about 400 px in the three-column layout), so text stays near its nominal size.
STRIP_W, STRIP_H = 400, 78
TREND_W, TREND_H = 400, 132
PAD_L, PAD_R = 8, 8
# The trend plot starts below a band that holds an off-scale target's label, so the
# label never sits on the line or its points.
TREND_TOP = 22
# A target far from the data would squash the points into a corner: it is drawn on
# the scale only if the data keep at least a third of the width (target within two
# data ranges, or within 25% of the data's edge for tight data); otherwise as an
# off-scale marker with its value.
TARGET_SCALE_LIMIT = 2.0
TARGET_NEAR = 0.25


def _target_on_scale(target: float | None, lo: float, hi: float) -> bool:
    if target is None:
        return False
    reach = max((hi - lo) * TARGET_SCALE_LIMIT, abs(hi) * TARGET_NEAR)
    return lo - reach <= target <= hi + reach


def slug(text: str) -> str:
    return "b-" + re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _fmt(v: float) -> str:
    return fmt_ns(v)


def _scale(lo: float, hi: float, a: float, b: float):
    if not math.isfinite(lo) or not math.isfinite(hi):
        lo, hi = 0.0, 1.0
    non_negative = lo >= 0
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = abs(hi) * 0.05 or 1.0
    else:
        pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    if non_negative:
        lo = max(lo, 0.0)  # times and counts are never negative: no axis below zero

    def f(v: float) -> float:
        return round(a + (v - lo) / (hi - lo) * (b - a), 1)
    return f, lo, hi


def strip_chart(name: str, base: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray,
                target: float | None,
                status: str = "") -> dict[str, Any]:
    """Repetitions of baseline and current as two rows of dots, medians as ticks, target as a line."""
    base = [float(v) for v in base]
    current = [float(v) for v in current]
    data = base + current
    lo, hi = (min(data), max(data)) if data else (0.0, 1.0)
    target_on_scale = _target_on_scale(target, lo, hi)
    if target is not None and target_on_scale:
        lo, hi = min(lo, target), max(hi, target)
    x, lo, hi = _scale(lo, hi, PAD_L + 64, STRIP_W - PAD_R)
    rows = []
    for label, values, y, cls in (("baseline", base, 24, "base"), ("current", current, 52, "cur")):
        dots = [{"x": x(v), "y": y + ((i % 3) - 1) * 4, "title": f"{label} rep {i}: {_fmt(v)}"}
                for i, v in enumerate(values)]
        med = float(np.median(values)) if values else None
        rows.append({"label": label, "y": y, "cls": cls, "dots": dots,
                     "median_x": x(med) if med is not None else None,
                     "median_text": _fmt(med) if med is not None else "none"})
    return {
        "name": name, "id": slug(name), "status": status, "w": STRIP_W, "h": STRIP_H,
        "rows": rows,
        "target_x": x(target) if target_on_scale else None,
        "target_text": _fmt(target) if target is not None else "",
        "target_off_scale": target is not None and not target_on_scale,
        "target_below": target is not None and target < lo,
        "axis_lo": _fmt(lo), "axis_hi": _fmt(hi), "axis_y": STRIP_H - 4,
        "x0": PAD_L + 64, "x1": STRIP_W - PAD_R,
    }


def trend_chart(name: str, frame: pd.DataFrame, baseline: float | None, target: float | None,
                machine: str = "") -> dict[str, Any]:
    """Per-run medians over the history, with baseline and target lines; hover shows commit and date
    (and the machine, for points recorded on another machine than `machine`)."""
    values = [float(v) for v in frame["median"]]
    lo, hi = min(values), max(values)
    if baseline is not None:
        lo, hi = min(lo, baseline), max(hi, baseline)
    target_on_scale = _target_on_scale(target, lo, hi)
    if target is not None and target_on_scale:
        lo, hi = min(lo, target), max(hi, target)
    top, bottom = TREND_TOP, TREND_H - 18
    y, lo, hi = _scale(lo, hi, bottom, top)
    n = len(values)
    left, right = PAD_L + 56, TREND_W - PAD_R
    step = (right - left) / max(n - 1, 1)
    points = []
    for i, row in enumerate(frame.itertuples(index=False)):
        px = round(left + i * step, 1) if n > 1 else (left + right) / 2
        commit = (row.commit_sha or "")[:10]
        points.append({"x": px, "y": y(float(row.median)), "commit": commit or "?",
                       "date": str(row.recorded_at or "")[:16].replace("T", " "),
                       "value": _fmt(float(row.median)), "status": row.status or "",
                       "machine": row.machine if machine and row.machine and row.machine != machine else ""})
    return {
        "name": name, "id": slug(name) + "-trend", "w": TREND_W, "h": TREND_H,
        "points": points,
        "path": " ".join(f"{p['x']},{p['y']}" for p in points),
        "baseline_y": y(baseline) if baseline is not None else None,
        "baseline_text": _fmt(baseline) if baseline is not None else "",
        "target_y": y(target) if target_on_scale else None,
        "target_text": _fmt(target) if target is not None else "",
        "target_off_scale": target is not None and not target_on_scale,
        "target_below": target is not None and target < lo,
        "target_label_y": top - 10,  # in the band above the plot
        "axis_hi": _fmt(hi), "axis_lo": _fmt(lo), "top": top, "bottom": bottom, "left": left, "right": right,
        "first": points[0]["date"] if points else "", "last": points[-1]["date"] if points else "",
        "runs": n,
    }


def ratio_bar(ratio: float, width: int = 160) -> dict[str, Any]:
    """A bar for ours/peer on a log scale centred on 1x (left: we are faster, right: slower)."""
    span = math.log(8)  # 1/8x .. 8x fill the bar
    pos = max(-1.0, min(1.0, math.log(max(ratio, 1e-9)) / span))
    mid = width / 2
    end = round(mid + pos * mid, 1)
    return {"w": width, "mid": mid, "x": min(mid, end), "len": round(abs(end - mid), 1),
            "cls": "faster" if ratio <= 1 else "slower"}
