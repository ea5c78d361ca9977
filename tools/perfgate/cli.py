"""Command line of perfgate: argument parsing only; the work lives in the modules.

    perfgate check    --baseline FILE --results FILE [--targets FILE] [--report-dir DIR]
                      [--threshold 0.10] [--alpha 0.05] [--history FILE | --no-history]
                      [--no-fail-on-timing] [--mode baseline|ab] [--confirm-from VERDICT.json]
                      [--instructions INSTRUCTION_VERDICT.json]
    perfgate report   --results FILE [--baseline FILE] [--targets FILE] [--report-dir DIR] [--history FILE]
                      [--instructions INSTRUCTION_VERDICT.json]
    perfgate baseline --results FILE [--out FILE]
    perfgate history  add --results FILE | list [--limit N] | prune [--keep N] [--older-than DAYS]
    perfgate annotations --verdict FILE
    perfgate selfbench [--runs 3]

Exit status: 0 pass, 1 regression or target breach (check only), 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from perfgate import analyse, baseline as baseline_file, history, render, results, selfbench, targets as targets_file
from perfgate import profile_view, verdict as verdict_file
from perfgate.decide import Settings, Verdict, decide
from perfgate.errors import PerfGateError

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_TARGETS = REPO_ROOT / "baselines" / "targets.toml"
DEFAULT_REPORT_DIR = Path("reports")


class _Parser(argparse.ArgumentParser):
    """argparse that raises PerfGateError (one line, exit 2) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("perfgate").strip()
        raise PerfGateError(f"{command + ': ' if command else ''}{message} (see --help)")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (e.g. 0.10), not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="perfgate", description="Judges state_bench results against a baseline and the "
                     "F-PERF-001 targets; writes report.html, summary.md, verdict.json.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_check(sub.add_parser("check", help="judge results against a baseline and the targets (exit 0/1/2)"))

    report = sub.add_parser("report", help="render report.html from results and history without judging")
    report.add_argument("--results", type=Path, required=True)
    report.add_argument("--baseline", type=Path, default=None, help="show the baseline beside the results")
    _common_outputs(report, record=False)
    _instructions_option(report)
    _profile_option(report)

    base = sub.add_parser("baseline", help="promote a Release results file to a committed baseline")
    base.add_argument("--results", type=Path, required=True)
    base.add_argument("--out", type=Path, default=None, help="default: baselines/<profile>.json")
    base.add_argument("--allow-slowdown", action="store_true",
                      help="accept a build with the slowdown hook compiled in (the gate's self-test only)")

    _add_history(sub.add_parser("history", help="the run history (SQLite)"))

    from perfgate import merge, trends
    trends.add_arguments(sub.add_parser("trends", help="write trends.html and changes.json from the history"))
    merge.add_arguments(sub.add_parser("shards", help="deal a profile's benchmarks to N shards by measured duration"),
                        sub.add_parser("merge", help="merge the shards' results files into one"))

    ann = sub.add_parser("annotations", help="print GitHub ::error/::warning lines for a verdict.json")
    ann.add_argument("--verdict", type=Path, required=True)

    sb = sub.add_parser("selfbench", help="time check + HTML on 500 benchmarks x 10 reps with 1,000 runs of history")
    selfbench.add_arguments(sb)
    return parser


def _add_check(check: argparse.ArgumentParser) -> None:
    check.add_argument("--baseline", type=Path, required=True,
                       help="baseline file (baselines/<profile>.json) or a raw Google Benchmark JSON (A/B)")
    check.add_argument("--results", type=Path, required=True, help="Google Benchmark JSON of this run")
    _common_outputs(check)
    check.add_argument("--threshold", type=_fraction, default=None,
                       help="relative regression threshold (default: targets file, else 0.10)")
    check.add_argument("--alpha", type=_fraction, default=None,
                       help="significance level of the U test (default: targets file, else 0.05)")
    check.add_argument("--no-fail-on-timing", action="store_true",
                       help="report timing regressions/breaches as warnings; fail only on allocation breaches")
    check.add_argument("--mode", choices=("baseline", "ab"), default="baseline",
                       help="baseline: a committed baseline; ab: the base build measured in the same job")
    check.add_argument("--confirm-from", type=Path, default=None,
                       help="verdict.json of a first pass: mark its regressions confirmed / not reproduced")
    check.add_argument("--quiet", action="store_true", help="print only the verdict line")
    _instructions_option(check)
    _profile_option(check)


def _add_history(hist: argparse.ArgumentParser) -> None:
    default = DEFAULT_REPORT_DIR / "history.sqlite"
    hsub = hist.add_subparsers(dest="history_command", required=True, parser_class=_Parser)
    hadd = hsub.add_parser("add", help="record a results file")
    hadd.add_argument("--results", type=Path, required=True)
    hadd.add_argument("--history", type=Path, default=default)
    hlist = hsub.add_parser("list", help="list recorded runs, newest first")
    hlist.add_argument("--history", type=Path, default=default)
    hlist.add_argument("--limit", type=int, default=20)
    hprune = hsub.add_parser("prune", help="delete old runs")
    hprune.add_argument("--history", type=Path, default=default)
    hprune.add_argument("--keep", type=int, default=None, help="keep the newest N runs")
    hprune.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                        help=f"delete runs recorded more than DAYS ago (0 to {history.MAX_AGE_DAYS:,})")
    hprune.add_argument("--dry-run", action="store_true", help="say which runs would be deleted; delete nothing")
    hcompact = hsub.add_parser("compact", help="keep repetitions of the newest N runs per profile, summaries of all")
    hcompact.add_argument("--history", type=Path, default=default)
    hcompact.add_argument("--keep-samples", type=int, default=None, metavar="N", help="default 200")
    hmerge = hsub.add_parser("merge", help="add the runs of another copy of the history that this one lacks")
    hmerge.add_argument("--history", type=Path, default=default)
    hmerge.add_argument("--from", dest="other", type=Path, required=True)
    hmigrate = hsub.add_parser("migrate", help=f"upgrade a history to schema version {history.SCHEMA_VERSION} "
                                               "(one transaction; a writing command also does it first)")
    hmigrate.add_argument("--history", type=Path, default=default)
    from perfgate import history_sync
    history_sync.add_arguments(hsub.add_parser("sync", help="merge into a git branch's history file and push it "
                                                             "(retried; never drops a concurrent run)"))


def _common_outputs(p: argparse.ArgumentParser, record: bool = True) -> None:
    p.add_argument("--targets", type=Path, default=DEFAULT_TARGETS,
                   help="target table (default: baselines/targets.toml of this repository)")
    p.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR, help="where reports go (default: reports/)")
    p.add_argument("--history", type=Path, default=None, help="history database (default: <report-dir>/history.sqlite)")
    if record:
        p.add_argument("--no-history", action="store_true", help="do not record this run in the history")


def _instructions_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instructions", type=Path, default=None, metavar="VERDICT.json",
                   help="verdict.json of an instruction-count check (make perf-gate PROFILE=instructions): "
                        "shown as the instr/op column and one summary line; never changes this verdict")


def _profile_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--diff-profile", type=Path, default=None, metavar="DIFF-PROFILE.json",
                   help="differential callgrind profile of the flagged benchmarks (benchrun diff-profile): shown in "
                        "report.html, summary.md and the annotations; never changes this verdict")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return cmd_check(args)
    if args.command == "report":
        return cmd_report(args)
    if args.command == "baseline":
        return cmd_baseline(args)
    if args.command == "history":
        return cmd_history(args)
    if args.command == "annotations":
        return cmd_annotations(args)
    if args.command == "trends":
        from perfgate import trends
        return trends.command(args, DEFAULT_TARGETS)
    if args.command in ("shards", "merge"):
        from perfgate import merge
        return merge.command_shards(args, REPO_ROOT / "baselines") if args.command == "shards" \
            else merge.command_merge(args)
    if args.command == "selfbench":
        return selfbench.main(args)
    raise PerfGateError(f"unknown command {args.command}")


def _history_path(args: argparse.Namespace) -> Path:
    return args.history if args.history is not None else args.report_dir / "history.sqlite"


def cmd_check(args: argparse.Namespace) -> int:
    targets = targets_file.load_targets(args.targets)
    baseline = baseline_file.load_baseline(args.baseline)
    current = results.load_results(args.results)
    results.require_measured(baseline, "baseline")
    results.require_measured(current)
    instructions = verdict_file.load_instruction_verdict(args.instructions) if args.instructions else None
    profile = profile_view.load(args.diff_profile) if args.diff_profile else None
    threshold = args.threshold or targets.default_threshold or analyse.DEFAULT_THRESHOLD
    alpha = args.alpha or targets.alpha or analyse.DEFAULT_ALPHA
    settings = Settings(threshold=threshold, alpha=alpha, mode=args.mode,
                        fail_on_timing=not args.no_fail_on_timing,
                        confirm_from=(verdict_file.confirm_statuses(args.confirm_from)
                                      if args.confirm_from else None))
    verdict = decide(baseline, current, targets, settings)
    inputs = render.ReportInputs(current, baseline, targets, instructions=instructions, profile=profile)
    _write_outputs(args, verdict, inputs, record=not args.no_history)
    lines = render.console_lines(verdict, instructions)
    print("\n".join(lines[-1:] if args.quiet else lines))
    if not args.quiet:
        print(f"perfgate: report {args.report_dir / 'report.html'} (summary.md, verdict.json beside it)")
    return verdict.exit_code


def _write_outputs(args: argparse.Namespace, verdict: Verdict, inputs: render.ReportInputs, record: bool) -> None:
    # The verdict files first: if the history cannot be written, CI still has them.
    report_dir: Path = args.report_dir
    hist = _history_path(args)
    current, profile = inputs.current, inputs.profile
    why = None if profile is None else profile_view.verdict_entry(profile, str(args.diff_profile))
    render.write_text(report_dir / "verdict.json",
                      render.verdict_json(verdict, current, inputs.baseline, inputs.instructions, why))
    render.write_text(report_dir / "summary.md",
                      render.summary_markdown(verdict, current, instructions=inputs.instructions, profile=profile))
    if record:
        statuses = {r.benchmark: r.status for r in verdict.rows if r.metric == "real_time"}
        history.record(hist, current, mode=verdict.mode, verdict="fail" if verdict.failed else "pass",
                       statuses=statuses)
    inputs.trend_frame = _trends(hist, current, render.relevant_benchmarks(verdict, current, render.TREND_LIMIT))
    render.write_text(report_dir / "report.html", render.html_report(verdict, inputs))


def _trends(hist: Path, current: results.RunData, benchmarks: list[str]):
    if not hist.exists():
        return None
    return history.trends(hist, benchmarks, profile=current.profile, last=render.TREND_POINTS)


def cmd_report(args: argparse.Namespace) -> int:
    targets = targets_file.load_targets(args.targets)
    current = results.load_results(args.results, require_release=False)
    baseline = baseline_file.load_baseline(args.baseline) if args.baseline else None
    instructions = verdict_file.load_instruction_verdict(args.instructions) if args.instructions else None
    profile = profile_view.load(args.diff_profile) if args.diff_profile else None
    unjudged = Verdict("report", [], [], [], False, current.profile)
    trend_frame = _trends(_history_path(args), current,
                          render.relevant_benchmarks(unjudged, current, render.TREND_LIMIT))
    html = render.html_report(None, render.ReportInputs(current, baseline, targets, trend_frame, instructions,
                                                        profile))
    render.write_text(args.report_dir / "report.html", html)
    print(f"perfgate: wrote {args.report_dir / 'report.html'} (not judged)")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    run, doc = baseline_file.make_baseline(args.results, allow_slowdown=args.allow_slowdown)
    out = Path(args.out or REPO_ROOT / "baselines" / f"{run.profile}.json")
    baseline_file.write_baseline(doc, out)
    if run.ctx("statestore_git_dirty") == "true":
        print("perfgate: warning: the results come from a working tree with uncommitted changes", file=sys.stderr)
    print(f"perfgate: wrote baseline {out} (profile {run.profile}, {len(run.order)} benchmarks, "
          f"machine {run.machine or '?'}, commit {run.commit[:12] or '?'})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    if args.history_command == "add":
        run = results.load_results(args.results)
        run_id = history.record(args.history, run, mode="manual")
        print(f"perfgate: recorded run {run_id} ({len(run.order)} benchmarks) in {args.history}")
        return 0
    if args.history_command == "list":
        frame = history.list_runs(args.history, args.limit)
        if frame.empty:
            print(f"perfgate: {args.history} holds no runs")
            return 0
        frame["commit_sha"] = frame["commit_sha"].fillna("").str[:12]
        print(frame.to_string(index=False))
        return 0
    if args.history_command == "sync":
        from perfgate import history_sync
        return history_sync.command(args)
    if args.history_command in ("compact", "merge", "migrate"):
        from perfgate import compaction
        return compaction.command(args)
    pruned = history.prune(args.history, keep=args.keep, older_than_days=args.older_than, dry_run=args.dry_run)
    more = f", +{len(pruned.ids) - 10} more" if len(pruned.ids) > 10 else ""
    ids = ", ".join(str(i) for i in pruned.ids[:10]) + more
    why = " and ".join(x for x in (f"beyond the newest {args.keep}" if args.keep is not None else "",
                                   f"recorded before {pruned.cutoff}" if pruned.cutoff else "") if x)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"perfgate: {verb} {len(pruned.ids)} run(s) {why} from {args.history}"
          + (f" (ids {ids})" if pruned.ids else "") + f"; {pruned.remaining} remain")
    return 0


def cmd_annotations(args: argparse.Namespace) -> int:
    doc = verdict_file.load_verdict(args.verdict)
    for line in render.workflow_commands(doc):
        print(line)
    return 0
