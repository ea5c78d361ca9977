"""Rendering: a Verdict -> console lines, summary.md, verdict.json, report.html.

The renderer shows a verdict; it never decides one. The HTML report is built from
a view model (plain dicts, prepared here and in charts.py) by the jinja2 template
templates/report.html.j2, with the CSS and JS inlined from templates/ so that the
single file works offline from a downloaded CI artifact.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from perfgate import charts, fileio, profile_view, status, verdict as verdict_file
from perfgate.decide import TargetRow, Verdict, VerdictRow
from perfgate.fmt import (fmt_count, fmt_instr, fmt_ns, fmt_p, fmt_value, md_code, md_text, one_line, workflow_data,
                          workflow_property)
from perfgate.results import RunData
from perfgate.targets import EMPTY_TARGETS, Targets
from perfgate.verdict import InstructionRow, InstructionVerdict

__all__ = ["fmt_count", "fmt_instr", "fmt_ns", "fmt_p", "fmt_value", "write_text", "verdict_json"]
status_rank = status.rank

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Rows of the summary.md: only these statuses matter to a reviewer.
SUMMARY_STATUSES = status.FLAGGED
# Bounds that keep report.html small for 500-benchmark runs: per-benchmark strip
# charts for the most relevant CHART_LIMIT benchmarks, trend charts for TREND_LIMIT,
# each over at most TREND_POINTS runs of history.
CHART_LIMIT = 60
TREND_LIMIT = 16
TREND_POINTS = 120
# Tables longer than this open with the unchanged rows filtered out (one click shows
# them): a reviewer's eye should land on what changed.
HIDE_UNCHANGED_ABOVE = 20
# Instruction rows listed in summary.md under the instruction line: those that fail that check.
INSTRUCTION_SUMMARY_STATUSES = (status.REGRESSED, status.MISSING)


# --------------------------------------------------------------------------- formatting

def fmt_delta(row: VerdictRow) -> str:
    """+12.3%; in A/B mode "+12.3% paired" (the median per-round ratio, not the ratio of the medians)."""
    if row.delta_pct is None:
        return "-"
    return f"{row.delta_pct:+.1f}%" + (" paired" if row.paired else "")


def fmt_target(t: TargetRow) -> str:
    limit = f"{t.limit:g} allocs" if t.metric == "allocs" else fmt_ns(t.limit)
    return f"{t.metric} <= {limit}"


# --------------------------------------------------------------------------- console / markdown / json

def instruction_line(instr: InstructionVerdict) -> str:
    """'Instruction counts (callgrind, 2% threshold): PASS: 9 unchanged': the instruction
    check's own headline (less its 'no targets checked', which is always so there)."""
    thresholds = instr.thresholds
    if not thresholds:
        rule = "callgrind"
    elif len(thresholds) == 1:
        rule = f"callgrind, {thresholds[0]:.0%} threshold"
    else:
        rule = f"callgrind, {thresholds[0]:.0%}-{thresholds[-1]:.0%} thresholds"
    return f"Instruction counts ({rule}): {instr.headline.removesuffix(', no targets checked')}"


def console_lines(verdict: Verdict, instructions: InstructionVerdict | None = None) -> list[str]:
    """One line per benchmark that is not unchanged, warnings, the instruction line
    (--instructions), then the verdict line."""
    lines = [f"perfgate: warning: {w}" for w in verdict.warnings]
    for r in sorted(verdict.rows, key=lambda r: status_rank(r.status)):
        if r.status == "unchanged":
            continue
        lines.append("  " + _row_text(r))
    for t in verdict.targets:
        if t.status == "breach":
            lines.append(f"  {'breach':<12} {t.benchmark}  {t.metric} {fmt_value(t.value, t.metric)} > "
                         f"limit {_limit_text(t)}" + ("" if t.fails else " (not enforced)"))
    if instructions is not None:
        lines.append(f"perfgate: {instruction_line(instructions)}")
    lines.append(f"perfgate: {verdict.headline()}")
    # Names and notes come from the input files: each line stays one line that starts
    # with perfgate's own text, so none can pass for a workflow command (::error).
    return [one_line(line) for line in lines]


def _limit_text(t: TargetRow) -> str:
    return f"{t.limit:g} allocs" if t.metric == "allocs" else fmt_ns(t.limit)


def _row_text(r: VerdictRow) -> str:
    metric = "" if r.metric == "real_time" else f" [{r.metric}]"
    head = f"{r.status:<12} {r.benchmark}{metric}"
    if r.status in ("skipped", "missing"):
        return f"{head}  {r.note}"
    if r.status == "new":
        return f"{head}  median {fmt_value(r.current, r.metric)}" + (f" ({r.note})" if r.note else "")
    text = (f"{head}  median {fmt_value(r.baseline, r.metric)} -> {fmt_value(r.current, r.metric)} "
            f"({fmt_delta(r)}, p={fmt_p(r.p_value)})")
    if r.confirmation:
        text += f" [{r.confirmation}]"
    if r.cross_machine:
        text += " [cross-machine]"
    if r.status in ("insufficient", "improved", "regressed") and r.note:
        text += f": {r.note}"
    if r.status == "regressed" and not r.fails:
        text += " (not enforced)"
    return text


def threshold_text(verdict: Verdict) -> str:
    """The regression thresholds the rows were judged by: "threshold 2%" for an
    instruction run, "thresholds 10-15%" with per-benchmark overrides."""
    used = sorted({r.threshold for r in verdict.rows if r.threshold is not None}) or [verdict.threshold]
    if len(used) == 1:
        return f"threshold {used[0]:.0%}"
    return f"thresholds {used[0]:.0%}-{used[-1]:.0%}"


def significance_rule(verdict: Verdict) -> str:
    """How a change beyond the threshold is told from noise, in this verdict."""
    if verdict.rows and all(r.metric == "instructions_per_op" for r in verdict.rows if r.threshold is not None):
        return "instruction counts are deterministic: any change beyond the threshold counts, no test"
    if verdict.mode == "ab":
        return ("an exact two-sided sign test on the per-round ratios head/base p < alpha (at least 6 paired "
                "rounds; fewer: a two-sided Mann-Whitney U test)")
    return "a two-sided Mann-Whitney U test p < alpha (at least 4 repetitions per side)"


def summary_markdown(verdict: Verdict, run: RunData, report_link: str = "report.html",
                     instructions: InstructionVerdict | None = None, profile: dict | None = None) -> str:
    headline = verdict.headline()
    icon = "❌" if verdict.failed else ("⚠️" if headline.startswith("PASS (timing not enforced)") else "✅")
    out = [f"## {icon} perf gate: {md_text(headline)}", ""]
    if instructions is not None:
        out += _instruction_summary(instructions)
    out.append(f"Profile {md_code(run.profile or '?', table=False)}, mode {md_code(verdict.mode, table=False)}, "
               f"commit {md_code(run.commit[:12] or '?', table=False)}, "
               f"{threshold_text(verdict)}, alpha {verdict.alpha:g}.")
    out.append("")
    for w in verdict.warnings:
        out.append(f"> **Warning:** {md_text(w)}")
        out.append("")
    rows = [r for r in verdict.rows if r.status in SUMMARY_STATUSES]
    rows.sort(key=lambda r: status_rank(r.status))
    if rows:
        out += ["| status | benchmark | baseline | current | Δ | p | note |", "|---|---|---|---|---:|---:|---|"]
        for r in rows:
            note = "; ".join(x for x in (r.confirmation, "cross-machine" if r.cross_machine else "", r.note) if x)
            name = r.benchmark + ("" if r.metric == "real_time" else f" [{r.metric}]")
            out.append(f"| {r.status} | {md_code(name)} | {fmt_value(r.baseline, r.metric)} | "
                       f"{fmt_value(r.current, r.metric)} | {fmt_delta(r)} | {fmt_p(r.p_value)} | {md_text(note)} |")
        out.append("")
    breaches = [t for t in verdict.targets if t.status == "breach"]
    if breaches:
        out += ["| target breach | benchmark | value | limit | spec |", "|---|---|---:|---:|---|"]
        for t in breaches:
            out.append(f"| {t.metric}{'' if t.fails else ' (not enforced)'} | {md_code(t.benchmark)} | "
                       f"{fmt_value(t.value, t.metric)} | {_limit_text(t)} | {md_text(t.source)} |")
        out.append("")
    if not rows and not breaches:
        out += ["Nothing to review: every benchmark is within the threshold and every target is met.", ""]
    out += profile_view.summary_lines(profile)
    out.append(f"Full report (tables, charts, trends): {md_code(report_link, table=False)} "
               "in the perf-report artifact.")
    return "\n".join(out) + "\n"


def _instruction_summary(instr: InstructionVerdict) -> list[str]:
    out = [md_text(instruction_line(instr)), ""]
    flagged = [r for r in instr.rows.values() if r.status in INSTRUCTION_SUMMARY_STATUSES]
    if flagged:
        out += ["| instructions | benchmark | baseline | current | Δ |", "|---|---|---:|---:|---:|"]
        for r in sorted(flagged, key=lambda r: status_rank(r.status)):
            delta = "-" if r.delta_pct is None else f"{r.delta_pct:+.1f}%"
            out.append(f"| {md_text(r.status)} | {md_code(r.benchmark)} | {fmt_instr(r.baseline)} | "
                       f"{fmt_instr(r.current)} | {delta} |")
        out.append("")
    return out


# verdict.json belongs to its format's module; the name stays for callers.
verdict_json = verdict_file.dumps


def workflow_commands(verdict_doc: dict) -> list[str]:
    """GitHub Actions workflow commands (::error / ::warning) for the rows of a validated
    verdict.json (verdict.load_verdict); names and notes escaped as the runner requires."""
    lines = []
    entry = verdict_doc.get("diff_profile")
    why: dict[str, Any] = {}
    if isinstance(entry, dict) and isinstance(entry.get("contributors"), dict):
        why = entry["contributors"]
    for r in verdict_doc.get("rows", []):
        row_status = r["status"]
        if row_status not in (status.REGRESSED, status.MISSING, status.IMPROVED):
            continue
        reason = why.get(r["benchmark"]) if row_status == status.REGRESSED else None
        level = "error" if r.get("fails") else ("notice" if row_status == status.IMPROVED else "warning")
        delta = "" if r.get("delta_pct") is None else f" {r['delta_pct']:+.1f}%"
        p = "" if r.get("p_value") is None else f" (p={r['p_value']:.3f})"
        confirmation = f" [{r['confirmation']}]" if r.get("confirmation") else ""
        lines.append(_command(level, f"perf {row_status}: {r['benchmark']}",
                              f"{r['benchmark']} {row_status}{delta}{p}{confirmation}"
                              + (f": {reason}" if isinstance(reason, str) and reason else "")))
    for t in verdict_doc.get("targets", []):
        if t["status"] == status.BREACH:
            level = "error" if t.get("fails") else "warning"
            fmt = fmt_count if t["metric"] == "allocs" else fmt_ns
            lines.append(_command(level, f"perf target breach: {t['benchmark']}",
                                  f"{t['benchmark']} {t['metric']} {fmt(t.get('value'))} exceeds the F-PERF-001 "
                                  f"limit {fmt(t['limit'])} ({t.get('source') or ''})"))
    return lines


def _command(level: str, title: str, message: str) -> str:
    return f"::{level} title={workflow_property(title)}::{workflow_data(message)}"


# One atomic-write helper for every output (fileio); the name stays for callers.
write_text = fileio.write_atomic


# --------------------------------------------------------------------------- HTML

@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """The template environment; compiled templates are cached in it (the template
    files do not change while perfgate runs)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["ns"] = fmt_ns
    env.filters["pval"] = fmt_p
    return env


def _table_rows(verdict: Verdict, current: RunData, baseline: RunData | None,
                instructions: InstructionVerdict | None = None) -> list[dict[str, Any]]:
    instr_rows = instructions.rows if instructions is not None else {}
    targets_by_bench: dict[str, list[TargetRow]] = {}
    for t in verdict.targets:
        targets_by_bench.setdefault(t.benchmark, []).append(t)
    rows: list[dict[str, Any]] = []
    seen = set()
    for r in verdict.rows:
        seen.add(r.benchmark)
        instr = instr_rows.get(r.benchmark) if r.metric == "real_time" else None
        rows.append(_table_row(r.benchmark, r, targets_by_bench.get(r.benchmark, []), current, instr))
    for name in current.order:  # report mode (no baseline) or benchmarks with only targets
        if name not in seen:
            seen.add(name)
            shown = status.SKIPPED if name in current.skipped else status.UNJUDGED
            unjudged = VerdictRow(name, "real_time", shown, current=current.center(name, "real_time"),
                                  n_current=len(current.values(name, "real_time")),
                                  note=current.skipped.get(name, ""))
            rows.append(_table_row(name, unjudged, targets_by_bench.get(name, []), current, instr_rows.get(name)))
    for i, row in enumerate(rows):
        row["order"] = i  # ties in status keep the run's order
    rows.sort(key=lambda d: (d["rank"], d["order"]))
    return rows


def _table_row(name: str, r: VerdictRow, targets: list[TargetRow], current: RunData,
               instr: InstructionRow | None = None) -> dict[str, Any]:
    breach = [t for t in targets if t.status == "breach"]
    status = r.status
    if breach and status_rank("breach") < status_rank(status):
        status = "breach"
    allocs = _max(current.values(name, "allocs_per_op")) if r.metric == "real_time" else None
    p99 = current.center(name, "p99_ns") if r.metric == "real_time" else None
    target_text = "; ".join(f"{fmt_target(t)}" + (" ✗" if t.status == "breach" else " ✓" if t.status == "ok" else "")
                            for t in targets)
    is_time = r.metric == "real_time"
    label = name if is_time else f"{name} [{r.metric}]"
    return {
        "id": charts.slug(label),
        "benchmark": label,
        "status": status,
        "rank": status_rank(status),
        "order": 0,
        "baseline": fmt_value(r.baseline, r.metric), "baseline_sort": _num(r.baseline),
        "current": fmt_value(r.current, r.metric), "current_sort": _num(r.current),
        "delta": fmt_delta(r), "delta_sort": _num(r.delta_pct),
        "p": fmt_p(r.p_value), "p_sort": _num(r.p_value),
        "target": target_text or "-",
        "allocs": fmt_count(allocs), "allocs_sort": _num(allocs),
        "p99": fmt_ns(p99), "p99_sort": _num(p99),
        "note": "; ".join(x for x in (r.confirmation or "", "cross-machine" if r.cross_machine else "", r.note,
                                      *[f"{t.metric} {fmt_value(t.value, t.metric)} > {_limit_text(t)}"
                                        for t in breach]) if x),
        "n": f"{r.n_baseline}/{r.n_current}",
        "fails": r.fails or any(t.fails for t in breach),
        **_instr_cell(instr),
    }


def _instr_cell(r: InstructionRow | None) -> dict[str, str]:
    """The instr/op cell: current instructions per operation and the change against the
    instruction baseline ("89.3 (+0.0%)"); the instruction status when it is not unchanged.
    Sorts by the change."""
    if r is None:
        return {"instr": "-", "instr_sort": "", "instr_status": "", "instr_tip": ""}
    if r.current is None:
        text = "-"
    elif r.delta_pct is None:
        text = fmt_instr(r.current)
    else:
        text = f"{fmt_instr(r.current)} ({r.delta_pct:+.1f}%)"
    threshold = "" if r.threshold is None else f", threshold {r.threshold:.0%}"
    tip = (f"instructions/op {fmt_instr(r.baseline)} -> {fmt_instr(r.current)} (callgrind): {r.status}{threshold}"
           + (f"; {r.note}" if r.note else ""))
    return {"instr": text, "instr_sort": _num(r.delta_pct),
            "instr_status": "" if r.status == "unchanged" else r.status, "instr_tip": tip}


def _num(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else repr(float(v))


def _max(values) -> float | None:
    return float(max(values)) if len(values) else None


FLAGGED = status.FLAGGED


def relevant_benchmarks(verdict: Verdict, current: RunData, limit: int) -> list[str]:
    """The benchmarks worth a chart, most relevant first: flagged (by severity), then
    those with F-PERF-001 targets, then the rest in run order. Skipped ones have no data."""
    status = {r.benchmark: r.status for r in verdict.rows if r.metric == "real_time"}
    for t in verdict.targets:
        if t.status == "breach":
            status[t.benchmark] = "breach"
    targeted = {t.benchmark for t in verdict.targets}
    names = [n for n in current.order if current.has(n)]
    position = {n: i for i, n in enumerate(names)}

    def key(name: str) -> tuple:
        st = status.get(name, "")
        return (0 if st in FLAGGED else 1, status_rank(st) if st in FLAGGED else 0,
                0 if name in targeted else 1, position[name])
    return sorted(names, key=key)[:limit]


def peer_rows(targets: Targets, current: RunData) -> list[dict[str, Any]]:
    rows = []
    for group in targets.peers:
        ours = current.center(group.ours, "real_time") if current.has(group.ours) else None
        if ours is None:
            continue
        for peer in group.peers:
            if not current.has(peer):
                continue
            theirs = current.center(peer, "real_time")
            if not theirs:
                continue
            ratio = ours / theirs
            rows.append({"label": group.label or group.ours, "ours": group.ours, "peer": peer,
                         "ours_time": fmt_ns(ours), "peer_time": fmt_ns(theirs), "ratio": f"{ratio:.2f}x",
                         "bar": charts.ratio_bar(ratio)})
    return rows


def _instruction_view(instr: InstructionVerdict, table: list[dict[str, Any]]) -> dict[str, Any]:
    """The line under the banner; flagged instruction rows whose benchmark has no table row
    (not in this wall-time run) are named there, since no cell shows them."""
    in_table = {r["benchmark"] for r in table}
    elsewhere = [f"{r.benchmark} {r.status}" for r in instr.rows.values()
                 if r.benchmark not in in_table and r.status != "unchanged"]
    return {"line": instruction_line(instr), "failed": instr.verdict == "fail", "path": instr.path,
            "elsewhere": elsewhere}


def environment(run: RunData, baseline: RunData | None) -> list[tuple[str, str]]:
    c = run.ctx
    env = [
        ("Commit", (c("statestore_git_commit") or "?") + (" (dirty)" if c("statestore_git_dirty") == "true" else "")),
        ("Branch", c("statestore_git_branch") or "?"),
        ("Profile", run.profile or "?"),
        ("Machine", run.machine or "?"),
        ("CPU", c("statestore_cpu_model") or "?"),
        ("CPUs / MHz", f"{c('num_cpus', '?')} / {c('mhz_per_cpu', '?')}"),
        ("Compiler", c("statestore_compiler") or "?"),
        ("Flags", c("statestore_cxx_flags") or "?"),
        ("Build type", c("statestore_build_type") or "?"),
        ("Sanitizers", c("statestore_sanitize") or "?"),
        ("Run date", c("date") or "?"),
        ("Host", c("host_name") or "?"),
    ]
    if baseline is not None:
        env += [("Baseline", f"{baseline.path}"),
                ("Baseline commit", baseline.commit or "?"),
                ("Baseline machine", baseline.machine or "?"),
                ("Baseline recorded", baseline.date or "?")]
    return env


@dataclass
class ReportInputs:
    """What report.html shows besides the verdict: the run, what it is compared with,
    the history's trend points, and the optional instruction verdict and profile."""

    current: RunData
    baseline: RunData | None = None
    targets: Targets = field(default_factory=lambda: EMPTY_TARGETS)
    trend_frame: pd.DataFrame | None = None
    instructions: InstructionVerdict | None = None
    profile: dict[str, Any] | None = None


def html_report(verdict: Verdict | None, inputs: ReportInputs, *, title: str = "perf gate report") -> str:
    """Renders report.html. `verdict` None: report mode (results shown, not judged)."""
    judged = verdict is not None
    if verdict is None:
        verdict = Verdict("report", [], [], [], False, inputs.current.profile)
    table = _table_rows(verdict, inputs.current, inputs.baseline, inputs.instructions)
    chart_names = relevant_benchmarks(verdict, inputs.current, CHART_LIMIT)
    limits: dict[str, float] = {}
    for t in verdict.targets:
        if t.metric in ("median", "mean"):
            limits.setdefault(t.benchmark, t.limit)
    strips = _strip_charts(inputs, chart_names, {r["benchmark"]: r["status"] for r in table}, limits)
    priority = ({r["benchmark"] for r in table if r["status"] not in ("unchanged", "unjudged")}
                | {t.benchmark for t in verdict.targets})
    context = {
        "title": title,
        **_banner(verdict, judged, inputs),
        **_table_view(verdict, table),
        "strips": [c for c in strips if c["name"] in priority],
        "strips_more": [c for c in strips if c["name"] not in priority],
        "charts_omitted": max(0, len([r for r in table if r["status"] not in ("skipped", "missing")]) - len(strips)),
        "trends": _trend_charts(inputs, chart_names[:TREND_LIMIT], limits),
        "trend_runs": (0 if inputs.trend_frame is None or inputs.trend_frame.empty
                       else int(inputs.trend_frame["run_id"].nunique())),
        "peers": peer_rows(inputs.targets, inputs.current),
        "instructions": None if inputs.instructions is None else _instruction_view(inputs.instructions, table),
        "profile": profile_view.view(inputs.profile),
        "environment": environment(inputs.current, inputs.baseline),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "css": (TEMPLATES / "report.css").read_text(encoding="utf-8"),
        "js": (TEMPLATES / "report.js").read_text(encoding="utf-8"),
    }
    return _env().get_template("report.html.j2").render(**context)


def _banner(verdict: Verdict, judged: bool, inputs: ReportInputs) -> dict[str, Any]:
    """The verdict banner and the rule line under it."""
    headline = verdict.headline() if judged else "report only: results not judged"
    compared = "the baseline" if inputs.baseline is not None else "no baseline"
    return {
        "judged": judged,
        "failed": verdict.failed if judged else False,
        "headline": headline,
        "banner_text": (headline.split(": ", 1)[-1] if judged
                        else f"{len(inputs.current.order)} benchmarks shown against {compared}; not judged"),
        "banner_word": headline.split(": ", 1)[0] if judged else "REPORT",
        "warnings": verdict.warnings,
        "cross_machine": verdict.cross_machine,
        "mode": verdict.mode,
        "threshold": threshold_text(verdict),
        "significance_rule": significance_rule(verdict),
        "alpha": f"{verdict.alpha:g}",
    }


def _table_view(verdict: Verdict, table: list[dict[str, Any]]) -> dict[str, Any]:
    """The results table, its status filters and the target table."""
    counts = verdict.counts()
    statuses = sorted({r["status"] for r in table}, key=status_rank)
    return {
        "counts": [(s, counts.get(s, 0)) for s in statuses if counts.get(s)],
        "statuses": statuses,
        "table": table,
        "hidden_statuses": ([status.UNCHANGED] if len(table) > HIDE_UNCHANGED_ABOVE
                            and any(r["status"] != status.UNCHANGED for r in table) else []),
        "targets": [{"benchmark": t.benchmark, "metric": t.metric, "limit": _limit_text(t),
                     "value": fmt_value(t.value, t.metric), "status": t.status, "source": t.source,
                     "note": t.note, "fails": t.fails}
                    for t in sorted(verdict.targets, key=lambda t: status_rank(t.status))],
    }


def _strip_charts(inputs: ReportInputs, names: list[str], status_of: dict[str, str],
                  limits: dict[str, float]) -> list[dict[str, Any]]:
    base = inputs.baseline
    return [charts.strip_chart(name, base.values(name, "real_time") if base is not None else [],
                               inputs.current.values(name, "real_time"), limits.get(name),
                               status=status_of.get(name, ""))
            for name in names]


def _trend_charts(inputs: ReportInputs, names: list[str], limits: dict[str, float]) -> list[dict[str, Any]]:
    frame, base = inputs.trend_frame, inputs.baseline
    if frame is None or frame.empty:
        return []
    out = []
    for name, grp in frame.groupby("benchmark", sort=False):
        if name not in names:
            continue
        base_median = base.center(name, "real_time") if base is not None and base.has(name) else None
        out.append(charts.trend_chart(name, grp.tail(TREND_POINTS), base_median, limits.get(name),
                                      inputs.current.machine))
    position = {name: i for i, name in enumerate(names)}
    return sorted(out, key=lambda c: position[c["name"]])
