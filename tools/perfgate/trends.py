"""The trend site: reports/trends.html (one offline file) and changes.json from the run history.

    history (SQLite) -> series (one per benchmark x metric x machine x profile, in run order)
                     -> change points per series (changepoints.detect)
                     -> trends.html (templates/trends.html.j2, data inline as JSON, drawn on demand)
                        changes.json (every change point, newest first), optional Markdown summary

A series never mixes machines or profiles: each machine fingerprint (the
``machine`` of a run: CPU model, cores, memory) and profile is its own line.
Points are runs in the order they were recorded (on main: commit order); each
point is the run's median with its min and max over the repetitions.

Metrics: every metric the history records (real time, p99, allocations,
instructions per operation) and, where a run has both sides of a peer group of
the targets file, the ratio ours / peer of the medians.

Every name in the page comes from the history, so the page never puts one in
HTML: the data travels as JSON in a ``<script type="application/json">`` with
``<``, ``>``, ``&`` and the JS line separators escaped, and the script writes it
with ``textContent``. Commit links are made only from an http(s) pattern given
on the command line, with the commit id URL-encoded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import jinja2

from perfgate import changepoints, history as history_file
from perfgate.errors import PerfGateError
from perfgate.fileio import write_atomic
from perfgate.targets import EMPTY_TARGETS, TARGET_METRICS, Targets, load_targets

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Metrics shown, in this order, with the unit the page prints.
METRICS: dict[str, str] = {"real_time": "ns", "instructions_per_op": "instr", "p99_ns": "ns",
                           "allocs_per_op": "allocs"}
PEER_PREFIX = "ratio to "
# Significant digits kept in the page: 1,000 runs x 100 benchmarks stay a few MB.
DIGITS = 5
# A change found at the same run (+- MACHINE_WIDE_RUNS runs), in the same direction, in at least
# MACHINE_WIDE_MIN series and MACHINE_WIDE_SHARE of all series of one metric, machine and profile is
# labelled a machine change. On the development machine, speed shifts of 2x between runs hit every
# benchmark at once; a code change moves a few.
MACHINE_WIDE_RUNS = 2
MACHINE_WIDE_MIN = 3
MACHINE_WIDE_SHARE = 0.3
# New change points printed on the console (all of them are in changes.json).
CONSOLE_LIMIT = 10
# The page's default "change since N runs" window.
DEFAULT_SINCE = 10


@dataclass
class Series:
    benchmark: str
    metric: str
    machine: str
    profile: str
    runs: list[int] = field(default_factory=list)       # indexes into the run table
    median: list[float] = field(default_factory=list)
    low: list[float | None] = field(default_factory=list)
    high: list[float | None] = field(default_factory=list)
    target: float | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.benchmark, self.metric, self.machine, self.profile)


@dataclass
class Change:
    series: int
    benchmark: str
    metric: str
    machine: str
    profile: str
    index: int                 # point index in the series of the first run of the new level
    first_commit: str          # first commit of the new level
    last_commit_before: str    # last commit of the old level
    first_date: str
    before: float
    after: float
    change: float
    ci_low: float
    ci_high: float
    relative: bool
    p_value: float
    kind: str                  # regression | improvement | machine (many benchmarks at once: the runner)
    new: bool = False          # found now, not without the newest run

    def as_json(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "metric": self.metric, "machine": self.machine,
                "profile": self.profile, "first_commit": self.first_commit,
                "last_commit_before": self.last_commit_before, "first_date": self.first_date,
                "before": _round(self.before), "after": _round(self.after), "change": _round(self.change),
                "ci_low": _round(self.ci_low), "ci_high": _round(self.ci_high),
                "relative": self.relative, "p_value": _round(self.p_value), "kind": self.kind, "new": self.new}


@dataclass
class Site:
    runs: list[dict[str, Any]]
    series: list[Series]
    changes: list[Change]


def build_series(runs: list[dict[str, Any]], rows: Iterable[tuple], targets: Targets = EMPTY_TARGETS) -> list[Series]:
    """One series per benchmark x metric x machine x profile, points in run order; peer ratios added."""
    position = {r["id"]: i for i, r in enumerate(runs)}
    by_key: dict[tuple[str, str, str, str], Series] = {}
    medians: dict[tuple[int, str], float] = {}  # (run position, benchmark) -> real-time median
    points: dict[tuple[str, str, str, str], list[tuple[int, float, float | None, float | None]]] = {}
    rows = list(rows)
    # An instruction-count run also carries its counts as real_time (Google Benchmark's time field):
    # one series of them, instructions_per_op, not a second one labelled as time.
    counted = {(run_id, bench) for run_id, bench, metric, *_ in rows if metric == "instructions_per_op"}
    for run_id, bench, metric, _n, med, lo, hi in rows:
        if metric not in METRICS or med is None or run_id not in position:
            continue
        if metric == "real_time" and (run_id, bench) in counted:
            continue
        pos = position[run_id]
        run = runs[pos]
        key = (bench, metric, run["machine"] or "", run["profile"] or "")
        points.setdefault(key, []).append((pos, float(med), lo, hi))
        if metric == "real_time":
            medians[(pos, bench)] = float(med)
    for group in targets.peers:
        for peer in group.peers:
            for pos, run in enumerate(runs):
                ours, theirs = medians.get((pos, group.ours)), medians.get((pos, peer))
                if ours is None or not theirs:
                    continue
                key = (group.ours, PEER_PREFIX + peer, run["machine"] or "", run["profile"] or "")
                points.setdefault(key, []).append((pos, ours / theirs, None, None))
    for key in sorted(points, key=_series_order):
        s = Series(*key)
        for pos, med, lo, hi in sorted(points[key], key=lambda p: p[0]):
            s.runs.append(pos)
            s.median.append(med)
            s.low.append(lo)
            s.high.append(hi)
        s.target = _target(targets, s)
        by_key[key] = s
    return list(by_key.values())


def _series_order(key: tuple[str, str, str, str]) -> tuple:
    bench, metric, machine, profile = key
    rank = list(METRICS).index(metric) if metric in METRICS else len(METRICS)
    return (bench, rank, metric, profile, machine)


def _target(targets: Targets, s: Series) -> float | None:
    for t in targets.targets:
        sample_metric, statistic, _ = TARGET_METRICS[t.metric]
        if t.benchmark == s.benchmark and sample_metric == s.metric and t.applies_to(s.profile) \
                and statistic in ("median", "mean", "max"):
            return t.limit
    return None


def find_changes(runs: list[dict[str, Any]], series: list[Series],
                 settings: changepoints.Settings | None = None) -> list[Change]:
    """Every change point of every series, newest first, then biggest first."""
    changes = []
    cfg = settings or changepoints.Settings()
    for sid, s in enumerate(series):
        found = changepoints.detect(s.median, cfg)
        if not found:
            continue
        # New: found now, and not (within min_segment points) in the history without the newest run.
        near_end = [cp for cp in found if cp.index >= len(s.median) - cfg.window]
        before_newest = [c.index for c in changepoints.detect(s.median[:-1], settings)] if near_end else []
        for cp in found:
            first, last = runs[s.runs[cp.index]], runs[s.runs[cp.index - 1]]
            changes.append(Change(
                series=sid, benchmark=s.benchmark, metric=s.metric, machine=s.machine, profile=s.profile,
                index=cp.index, first_commit=first["commit_sha"] or "", last_commit_before=last["commit_sha"] or "",
                first_date=first["recorded_at"] or first["run_date"] or "", before=cp.before, after=cp.after,
                change=cp.change, ci_low=cp.ci_low, ci_high=cp.ci_high, relative=cp.relative,
                p_value=cp.p_value, kind="regression" if cp.change > 0 else "improvement",
                new=cp in near_end and all(abs(cp.index - j) >= cfg.min_segment for j in before_newest)))
    _mark_machine_wide(changes, series, runs)
    changes.sort(key=lambda c: (-series[c.series].runs[c.index], -abs(c.change)))
    return changes


def _mark_machine_wide(changes: list[Change], series: list[Series], runs: list[dict[str, Any]]) -> None:
    """A level change that many benchmarks of one machine and profile show at the same run, in the
    same direction, is the machine (a new runner type, a noisy neighbour), not the code: kind
    'machine' instead of regression / improvement."""
    per_group: dict[tuple[str, str, str], int] = {}
    # Runs counted within their machine and profile: another profile's runs in between do not count.
    ordinal: list[int] = []
    seen: dict[tuple[str, str], int] = {}
    for s in series:
        g = (s.metric, s.machine, s.profile)
        per_group[g] = per_group.get(g, 0) + 1
    for r in runs:
        key = (r["machine"] or "", r["profile"] or "")
        ordinal.append(seen.get(key, 0))
        seen[key] = ordinal[-1] + 1

    def when(c: Change) -> int:
        return ordinal[series[c.series].runs[c.index]]

    for c in changes:
        g = (c.metric, c.machine, c.profile)
        alike = [o for o in changes if (o.metric, o.machine, o.profile) == g and (o.change > 0) == (c.change > 0)
                 and abs(when(o) - when(c)) <= MACHINE_WIDE_RUNS]
        if len(alike) >= MACHINE_WIDE_MIN and len(alike) >= MACHINE_WIDE_SHARE * per_group[g]:
            c.kind = "machine"


def build_site(history: Path | str, targets: Targets = EMPTY_TARGETS,
               settings: changepoints.Settings | None = None) -> Site:
    runs, rows = history_file.read_all(history)
    series = build_series(runs, rows, targets)
    return Site(runs=runs, series=series, changes=find_changes(runs, series, settings))


def _round(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{DIGITS}g}")


def page_data(site: Site, *, commit_url: str = "", compare_url: str = "", since: int = DEFAULT_SINCE,
              title: str = "statestore-perf trends") -> dict[str, Any]:
    """What the page's script reads: runs and series column-wise, the changes."""
    for pattern in (commit_url, compare_url):
        if pattern and not pattern.startswith(("https://", "http://")):
            raise PerfGateError(f"link pattern {pattern!r} must start with https:// or http://")
    return {
        "title": title,
        "generated": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "since": since,
        "commit_url": commit_url,
        "compare_url": compare_url,
        "units": METRICS,
        "runs": {"commit": [r["commit_sha"] or "" for r in site.runs],
                 "date": [r["recorded_at"] or r["run_date"] or "" for r in site.runs]},
        "series": [{"b": s.benchmark, "m": s.metric, "machine": s.machine, "profile": s.profile,
                    "unit": METRICS.get(s.metric, "ratio"), "target": s.target, "x": s.runs,
                    "med": [_round(v) for v in s.median], "lo": [_round(v) for v in s.low],
                    "hi": [_round(v) for v in s.high]} for s in site.series],
        "changes": [dict(c.as_json(), series=c.series, index=c.index) for c in site.changes],
    }


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no '</script>', no '<!--', no JS line separators."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def html_page(site: Site, **options: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    data = page_data(site, **options)
    return env.get_template("trends.html.j2").render(
        title=data["title"], data_json=script_json(data), n_runs=len(site.runs), n_series=len(site.series),
        n_changes=len(site.changes),
        css=(TEMPLATES / "trends.css").read_text(encoding="utf-8"),
        js=(TEMPLATES / "trends.js").read_text(encoding="utf-8"))


def changes_json(site: Site) -> str:
    return json.dumps({"format_version": 1, "changes": [c.as_json() for c in site.changes]}, indent=1) + "\n"


def _md(text: str) -> str:
    """Inline Markdown code span content: no backtick, no pipe, no line break, no HTML."""
    return (text.replace("`", "'").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
            .replace(">", "&gt;"))


def fmt_change(c: Change) -> str:
    if not c.relative:
        return f"{c.change:+.3g} ({c.ci_low:+.3g} .. {c.ci_high:+.3g})"
    return f"{100 * c.change:+.1f}% ({100 * c.ci_low:+.1f} .. {100 * c.ci_high:+.1f})"


def summary_markdown(site: Site, limit: int = 20) -> str:
    """The job summary: new change points (found now, not without the newest run), then the latest."""
    new = [c for c in site.changes if c.new]
    lines = ["### Trends: change points", "",
             f"{len(site.runs)} runs, {len(site.series)} series, {len(site.changes)} change points; "
             f"**{len(new)} new** in the newest run.", ""]

    def table(rows: list[Change]) -> list[str]:
        out = ["| benchmark | metric | machine / profile | commits | change (95% CI) | kind |",
               "|---|---|---|---|---|---|"]
        for c in rows[:limit]:
            out.append(f"| `{_md(c.benchmark)}` | {_md(c.metric)} | {_md(c.machine)} / {_md(c.profile)} "
                       f"| `{_md(c.last_commit_before[:10])}..{_md(c.first_commit[:10])}` | {fmt_change(c)} "
                       f"| {c.kind} |")
        if len(rows) > limit:
            out.append(f"| ... {len(rows) - limit} more in changes.json | | | | | |")
        return out

    if new:
        lines += ["New:", "", *table(new), ""]
    if site.changes:
        lines += ["Latest:", "", *table(site.changes), ""]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line

def add_arguments(p) -> None:
    """Options of `perfgate trends` (cli.py adds the subcommand and calls `command`)."""
    p.add_argument("--history", type=Path, required=True, help="the run history (SQLite)")
    p.add_argument("--out", type=Path, default=Path("reports"), help="directory for trends.html and changes.json")
    p.add_argument("--targets", type=Path, default=None, help="target table (default: baselines/targets.toml)")
    p.add_argument("--commit-url", default="", metavar="PATTERN",
                   help="link of one commit, {sha} replaced, e.g. https://github.com/OWNER/REPO/commit/{sha}")
    p.add_argument("--compare-url", default="", metavar="PATTERN",
                   help="link of a commit range, {from} and {to} replaced, "
                        "e.g. https://github.com/OWNER/REPO/compare/{from}...{to}")
    p.add_argument("--since", type=int, default=DEFAULT_SINCE, help="the index's 'change since N runs' (default 10)")
    p.add_argument("--summary", type=Path, default=None, help="also write the Markdown summary (new change points)")
    p.add_argument("--title", default="statestore-perf trends")


def command(args, default_targets: Path) -> int:
    if args.since < 1:
        raise PerfGateError(f"trends: --since must be >= 1, not {args.since}")
    targets_path = args.targets or default_targets
    targets = load_targets(targets_path) if Path(targets_path).exists() or args.targets else EMPTY_TARGETS
    site = build_site(args.history, targets)
    html = html_page(site, commit_url=args.commit_url, compare_url=args.compare_url, since=args.since, title=args.title)
    write_atomic(args.out / "changes.json", changes_json(site))
    write_atomic(args.out / "trends.html", html)
    if args.summary:
        write_atomic(args.summary, summary_markdown(site))
    new = [c for c in site.changes if c.new]
    print(f"perfgate: trends {args.out / 'trends.html'}: {len(site.runs)} runs, {len(site.series)} series, "
          f"{len(site.changes)} change points ({len(new)} new); changes.json beside it")
    for c in new[:CONSOLE_LIMIT]:  # like `otava analyze`: what the newest run brought, one line each
        print(f"perfgate: new change point: {c.benchmark} {c.metric} ({c.machine}, {c.profile}) "
              f"{c.last_commit_before[:10]}..{c.first_commit[:10]} {fmt_change(c)} {c.kind}")
    if len(new) > CONSOLE_LIMIT:
        print(f"perfgate: ... and {len(new) - CONSOLE_LIMIT} more new change points in changes.json")
    return 0
