"""profile.json (perfgate.profdiff) -> what report.html, summary.md and the annotations show.

The renderer shows the differential profile; it never judges with it. The
flame graph is SVG drawn here (no library): frames laid out top-down from
the root, widths by head's instructions, colours by the change of each
frame's own cost (callgrind's cycle estimate, profdiff.cest) from base to
head: red grew, blue shrank, grey unchanged. Our own SVG rather than an npm
flame-graph library because the report already draws every chart as static
SVG from Python (works without JavaScript, testable without a browser), the
tree has a few dozen frames, and d3-flame-graph would inline d3 (~280 KB)
into a report that is otherwise ~100 KB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from perfgate.errors import PerfGateError
from perfgate.fmt import md_code, md_text

FORMAT = "statestore-profile/1"
TEMPLATES = Path(__file__).resolve().parent / "templates"
FLAME_W = 1200
ROW_H = 17
# Frames narrower than this (SVG units) are not drawn; their cost stays in the parent's width.
MIN_FRAME_W = 0.8
CHAR_W = 6.6  # 11px monospace
# Changes in a frame's own cost below this (cycles/op) are drawn neutral.
NEUTRAL = 0.05
METRIC_LABELS = {"ir": "instr/op", "d1": "D1 misses/op", "ll": "LL misses/op"}


def load(path: Path) -> dict[str, Any]:
    """Reads profile.json; PerfGateError naming the file on bad input."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerfGateError(f"profile file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise PerfGateError(f"profile file {path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PerfGateError(f"profile file {path} is not a perfgate profile (format {FORMAT!r} expected)")
    if not isinstance(doc.get("benchmarks"), list):
        raise PerfGateError(f"profile file {path} has no list of benchmarks")
    return doc


def _num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def _delta(x: float, digits: int = 1) -> str:
    return f"{x:+,.{digits}f}" if round(x, digits) != 0 else "0"


def _cost_cells(row: dict[str, Any]) -> dict[str, str]:
    ir, d1, ll = row["ir"], row["d1"], row["ll"]
    return {"ir": f"{_num(ir['base'])} → {_num(ir['head'])}", "ir_delta": _delta(ir["delta"]),
            "ir_sort": repr(float(ir["delta"])), "d1_delta": _delta(d1["delta"], 2), "ll_delta": _delta(ll["delta"], 2),
            "up": row["cest_delta"] > 0}


def _colour(delta: float, scale: float) -> str:
    if abs(delta) < NEUTRAL or scale <= 0:
        return "#e4e7eb"
    t = min(1.0, abs(delta) / scale) ** 0.6
    low = round(228 - 150 * t)
    return f"rgb(255,{low},{low})" if delta > 0 else f"rgb({low},{low + 20},255)"


def _cest(c: list[float]) -> float:
    return c[0] + 10 * c[1] + 100 * c[2]


def flame_rects(tree: dict[str, Any]) -> dict[str, Any]:
    """SVG rectangles of the merged flame tree: x/width by head's Ir, row by depth."""
    total = tree["head"][0] or tree["base"][0] or 1.0
    scale_x = FLAME_W / total
    deltas: list[float] = []

    def collect(n: dict[str, Any]) -> None:
        deltas.append(abs(_cest(n["head_self"]) - _cest(n["base_self"])))
        for c in n["children"]:
            collect(c)
    collect(tree)
    scale = max(deltas) if deltas else 0.0
    rects: list[dict[str, Any]] = []
    base_only: list[str] = []

    def place(n: dict[str, Any], x: float, depth: int) -> None:
        w = n["head"][0] * scale_x
        if w < MIN_FRAME_W:
            if n["head"][0] == 0 and n["base"][0] > 0:
                base_only.append(f"{n['name']} ({_num(n['base'][0])} instr/op in base)")
            return
        d_self = _cest(n["head_self"]) - _cest(n["base_self"])
        label = n["name"]
        fits = int((w - 6) / CHAR_W)
        text = label if len(label) <= fits else (label[:max(fits - 1, 0)] + "…" if fits >= 4 else "")
        bs, hs, bt, ht = n["base_self"], n["head_self"], n["base"], n["head"]
        tip = (f"{n['full']}\n"
               f"self:  {_num(bs[0])} → {_num(hs[0])} instr/op ({_delta(hs[0] - bs[0])}), "
               f"D1 misses {_delta(hs[1] - bs[1], 2)}, LL {_delta(hs[2] - bs[2], 2)}\n"
               f"total: {_num(bt[0])} → {_num(ht[0])} instr/op ({_delta(ht[0] - bt[0])}), "
               f"{100 * ht[0] / total:.1f}% of head")
        rects.append({"x": round(x, 2), "y": depth * ROW_H, "w": round(w, 2), "h": ROW_H - 1,
                      "fill": _colour(d_self, scale), "text": text, "tip": tip, "name": n["name"],
                      "delta": round(d_self, 3)})
        cx = x
        for c in n["children"]:
            place(c, cx, depth + 1)
            cx += c["head"][0] * scale_x
    place(tree, 0.0, 0)
    depth = max((r["y"] for r in rects), default=0) // ROW_H + 1
    return {"w": FLAME_W, "h": depth * ROW_H, "rects": rects, "base_only": base_only}


def view(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The template's view of profile.json (None: no profile was asked for)."""
    if doc is None:
        return None
    cards = []
    for e in doc["benchmarks"]:
        card: dict[str, Any] = {"benchmark": e.get("benchmark", "?"), "status": e.get("status", "?"),
                                "reason": e.get("reason", ""), "verdict_status": e.get("verdict_status", ""),
                                "ops": e.get("ops"), "headline": e.get("headline", "")}
        if e.get("status") == "profiled":
            card["unchanged"] = bool(e.get("unchanged"))
            card["totals"] = _cost_cells(e["totals"]) | {
                "d1": f"{_num(e['totals']['d1']['base'], 2)} → {_num(e['totals']['d1']['head'], 2)}",
                "ll": f"{_num(e['totals']['ll']['base'], 2)} → {_num(e['totals']['ll']['head'], 2)}"}
            card["top"] = e.get("top")
            card["functions"] = [{"name": f["name"], "full": f["full"], "self": _cost_cells(f["self"]),
                                  "incl": _cost_cells(f["inclusive"])} for f in e.get("functions", [])]
            card["lines"] = [{"where": f"{r['file']}:{r['line']}", "side": r["side"], "function": r["function"],
                              "text": r["text"], **_cost_cells(r)} for r in e.get("lines", [])]
            card["flame"] = flame_rects(e["flame"])
        cards.append(card)
    return {"status": doc.get("status", "ok"), "reason": doc.get("reason", ""), "seconds": doc.get("seconds"),
            "settings": doc.get("settings", {}), "cards": cards,
            "css": (TEMPLATES / "profile.css").read_text(encoding="utf-8")}


def verdict_entry(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """What verdict.json keeps of the profile: where it is, and each benchmark's explanation."""
    return {"path": path, "status": doc.get("status"), "reason": doc.get("reason", ""),
            "contributors": contributors(doc)}


def contributors(doc: dict[str, Any] | None) -> dict[str, str]:
    """Benchmark -> its one-line explanation: the biggest contributor, the plain
    'same instructions' statement, or why it was not profiled."""
    out: dict[str, str] = {}
    for e in (doc or {}).get("benchmarks", []):
        name = e.get("benchmark")
        if not isinstance(name, str):
            continue
        if e.get("status") == "profiled":
            top = e.get("top")
            out[name] = top["text_summary"] if top and not e.get("unchanged") else e.get("headline", "")
        else:
            out[name] = f"profile {e.get('status', 'skipped')}: {e.get('reason', '')}"
    return out


def summary_lines(doc: dict[str, Any] | None) -> list[str]:
    """summary.md's 'Why' section (Markdown, escaped by the caller's rules)."""
    if doc is None:
        return []
    if doc.get("status") not in ("ok",) and not doc.get("benchmarks"):
        return ([md_text(f"Differential profile: {doc.get('status')}: {doc.get('reason')}"), ""]
                if doc.get("status") != "none" else [])
    out = ["**Why** (differential callgrind profile, base → head, same operation count):", ""]
    for name, text in contributors(doc).items():
        out.append(f"- {md_code(name, table=False)}: {md_text(text)}")
    return out + [""]
