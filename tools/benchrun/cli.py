"""Command line of benchrun: argument parsing only; the work lives in the modules."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from benchrun import ab, build, ci, gbjson, instr, judged, pipeline, profile, selftest
from benchrun.errors import BenchRunError
from benchrun.runner import BenchBinary, RunSpec, run

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
# NAME=VALUE words `tools/perf-gate` takes like make does (make perf-gate BASE=... PROFILE=...).
ASSIGNABLE = {"BASE": "base", "PROFILE": "profile", "FILTER": "filter", "BUILD_DIR": "build_dir",
              "REPORT_DIR": "report_dir"}


def _perf_gate_parser(sub: argparse._SubParsersAction) -> None:
    pg = sub.add_parser("perf-gate", help="the default gate: decide from git what to compare, judge, exit 0/1/2",
                        description=pipeline.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pg.add_argument("assignments", nargs="*", metavar="NAME=VALUE",
                    help=f"make-style settings: {', '.join(ASSIGNABLE)} (e.g. BASE=origin/main PROFILE=full); "
                         "an empty value means unset; words after -- go to perfgate check")
    pg.add_argument("--base", default=None, help="git revision to compare against (default: decided from git)")
    pg.add_argument("--no-base", action="store_true",
                    help="judge against the committed baseline only (targets, allocations; timing reported)")
    pg.add_argument("--profile", default=None, help="tiny, quick (default), full or instructions")
    pg.add_argument("--filter", default=None, help="--benchmark_filter regex (POSIX extended)")
    pg.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to judge (default: this one)")
    pg.add_argument("--build-dir", type=Path, default=None, help="default: REPO/build")
    pg.add_argument("--report-dir", type=Path, default=None, help="default: REPO/reports")
    pg.add_argument("--head-bench", type=Path, default=None, help="an already-built head state_bench (no build)")
    pg.add_argument("--head-instr", type=Path, default=None, help="an already-built head state_instr")
    pg.add_argument("--base-bench", type=Path, default=None,
                    help="an already-built base state_bench (its CMake build tree must hold its objects)")
    pg.add_argument("--no-instructions", action="store_true", help="skip the instruction-count check")
    pg.add_argument("--instr-filter", default=".", help="regex of the state_instr workloads to count")
    pg.add_argument("--enforce-baseline-timing", action="store_true",
                    help="without a base: fail on timing against the committed baseline, if it was recorded on "
                         "this machine (never across machines)")
    pg.add_argument("--no-skip", action="store_true",
                    help="measure even when base and head have the same code (an A/A on purpose)")
    pg.add_argument("--rounds", type=int, default=ab.DEFAULT_ROUNDS, help="A/B paired rounds")
    pg.add_argument("--confirm-rounds", type=int, default=ab.CONFIRM_ROUNDS)
    pg.add_argument("--min-time", type=float, default=ab.DEFAULT_MIN_TIME, help="A/B --benchmark_min_time")
    pg.add_argument("--ab-peers", action="store_true",
                    help="A/B: also run the peer benchmarks when their code is the same on both sides")
    pg.add_argument("--no-diff-profile", action="store_true",
                    help="after the verdict, no differential callgrind profile of the regressed benchmarks")
    pg.add_argument("--diff-profile-filter", default=None, metavar="REGEX",
                    help="also profile the benchmarks matching REGEX, flagged or not")


def _single_parser(sub: argparse._SubParsersAction) -> None:
    single = sub.add_parser("single", help="run one profile of one state_bench binary")
    single.add_argument("--bench", type=Path, required=True, help="path of state_bench")
    single.add_argument("--profile", default="quick")
    single.add_argument("--filter", default=None, help="--benchmark_filter regex")
    single.add_argument("--out", type=Path, required=True, help="JSON file to write")


def _ab_parser(sub: argparse._SubParsersAction) -> None:
    abp = sub.add_parser("ab", help="same-run A/B of a base git revision against the head build")
    abp.add_argument("--base-ref", required=True, help="git revision to compare against")
    abp.add_argument("--base-bench", type=Path, default=None,
                     help="use this already-built base state_bench instead of building --base-ref")
    abp.add_argument("--head-bench", type=Path, required=True)
    abp.add_argument("--profile", default="quick")
    abp.add_argument("--filter", default=None)
    abp.add_argument("--rounds", type=int, default=ab.DEFAULT_ROUNDS, help="paired rounds per side")
    abp.add_argument("--confirm-rounds", type=int, default=ab.CONFIRM_ROUNDS,
                     help="extra rounds for benchmarks the first judgement flags (0: no confirmation)")
    abp.add_argument("--min-time", type=float, default=ab.DEFAULT_MIN_TIME,
                     help="--benchmark_min_time of each round, seconds")
    abp.add_argument("--schedule", choices=ab.SCHEDULES, default="paired",
                     help="paired: base and head of each benchmark co-scheduled on one CPU, CPU time (default); "
                          "sequential: whole runs one after the other, wall time")
    abp.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    abp.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports")
    abp.add_argument("--baseline", type=Path, default=None,
                     help="committed baseline (kept for the record; A/B judges head against base)")
    abp.add_argument("gate_args", nargs="*", help="extra arguments for perfgate check (after --)")


def _ci_parsers(sub: argparse._SubParsersAction) -> None:
    pb = sub.add_parser("push-base", help="CI: the base of a push to main (the last judged commit); "
                                          "prints base=, commits=, reason= lines for $GITHUB_OUTPUT")
    pb.add_argument("--record", type=Path, required=True, help="judged.json from the perf-history branch "
                                                               "(need not exist)")
    pb.add_argument("--head", required=True)
    pb.add_argument("--before", default=None, help="github.event.before (used only without a usable record)")
    pb.add_argument("--repo", type=Path, default=Path("."))
    cr = sub.add_parser("ci-report", help="CI: annotations and a job-summary table with the cause of each "
                                          "check's exit code; exits 1 when any check did not pass")
    cr.add_argument("--check", action="append", default=[], metavar="NAME=CODE=LOG",
                    help="a check: its name, tools/perf-gate's exit code (empty: not run), its saved output")
    cr.add_argument("--summary", type=Path, default=None, help="append the table here ($GITHUB_STEP_SUMMARY)")
    jr = sub.add_parser("judged-record", help="CI: write judged.json for a push run that judged HEAD")
    jr.add_argument("--commit", required=True)
    jr.add_argument("--base", default="")
    jr.add_argument("--run", required=True)
    jr.add_argument("--exit-code", type=int, required=True)
    jr.add_argument("--out", type=Path, required=True)


def _diff_profile_parser(sub: argparse._SubParsersAction) -> None:
    dp = sub.add_parser("diff-profile", help="differential callgrind profiles of the benchmarks a verdict flagged, "
                        "added to its report (exit 0 whatever the profile found; 2 on bad usage or input)")
    dp.add_argument("--verdict", type=Path, default=None, help="verdict.json of the check to explain")
    dp.add_argument("--base-ref", default=None, help="git revision to profile as base")
    dp.add_argument("--base-src", type=Path, default=None, help="an already checked-out base source tree")
    dp.add_argument("--base-from-baseline", type=Path, default=None, metavar="BASELINE.json",
                    help="profile as base the commit this baseline was recorded at")
    dp.add_argument("--filter", default=None, metavar="REGEX", help="also profile benchmarks matching REGEX")
    dp.add_argument("--max-benchmarks", type=int, default=profile.DEFAULT_MAX_BENCHMARKS)
    dp.add_argument("--ops", type=int, default=None, help="operations per workload (default: state_instr's)")
    dp.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    dp.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports")
    dp.add_argument("--build-only", action="store_true",
                    help="only build the head's profiling state_instr (BUILD_DIR/profile) and print its path")
    dp.add_argument("check_args", nargs="*",
                    help="after --: the arguments of the perfgate check that wrote the verdict, to re-render "
                         "its report with the profile")


def _instr_parser(sub: argparse._SubParsersAction) -> None:
    ins = sub.add_parser("instr", help="instructions per operation under callgrind (state_instr)")
    ins.add_argument("--bench", type=Path, required=True, help="path of state_instr")
    ins.add_argument("--ops", type=int, default=instr.DEFAULT_OPS, help="operations per workload")
    ins.add_argument("--filter", default=".", help="regex of workload names")
    ins.add_argument("--out", type=Path, required=True, help="JSON file to write")


def _selftest_parser(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("selftest", help="measure the gate: A/A false alarms and caught slowdowns per mode")
    st.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build",
                    help="where the self-test builds its variants (selftest-ref, selftest-slowPCT)")
    st.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports",
                    help="results go to REPORT_DIR/selftest/")
    st.add_argument("--modes", default=",".join(selftest.MODES), help="comma-separated: baseline,ab,instructions")
    st.add_argument("--cases", default="0,5,10,15,25", help="comma-separated slowdowns in percent; 0 = A/A")
    st.add_argument("--trials", type=int, default=20, help="trials per mode and case (K)")
    st.add_argument("--target", default=selftest.DEFAULT_TARGET, help="the benchmark to slow down")
    st.add_argument("--whole-profile", action="store_true",
                    help="run every benchmark of the quick profile per trial (as a pull request does), "
                         "not just the target and its companions")
    st.add_argument("--rounds", type=int, default=ab.DEFAULT_ROUNDS, help="A/B rounds per side")
    st.add_argument("--confirm-rounds", type=int, default=ab.CONFIRM_ROUNDS)
    st.add_argument("--min-time", type=float, default=ab.DEFAULT_MIN_TIME, help="A/B --benchmark_min_time")
    st.add_argument("--schedule", choices=ab.SCHEDULES, default="paired", help="A/B schedule (see benchrun ab)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchrun", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_single_parser, _ab_parser, _perf_gate_parser, _ci_parsers, _diff_profile_parser, _instr_parser,
                _selftest_parser):
        add(sub)
    return parser


def cmd_selftest(args: argparse.Namespace) -> int:
    try:
        cases = [int(c) for c in args.cases.split(",") if c.strip()]
    except ValueError:
        raise BenchRunError(f"--cases must be comma-separated integers, got '{args.cases}'") from None
    if args.trials < 1:
        raise BenchRunError("--trials must be at least 1")
    config = selftest.Config(REPO_ROOT, args.build_dir, args.report_dir / "selftest", target=args.target,
                             ab_settings=ab.AbSettings(args.rounds, args.confirm_rounds, args.min_time,
                                                       args.schedule),
                             whole_profile=args.whole_profile)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    selftest.run_selftest(config, modes, cases, args.trials)
    print((config.work / "selftest.md").read_text())
    print(f"benchrun: self-test results in {config.work}", file=sys.stderr)
    return 0


def cmd_instr(args: argparse.Namespace) -> int:
    data = instr.measure(args.bench, args.ops, args.filter)
    gbjson.write(data, args.out)
    print(f"benchrun: instructions per op of {len(data['benchmarks'])} workloads -> {args.out}", file=sys.stderr)
    return 0


def cmd_push_base(args: argparse.Namespace) -> int:
    chosen = judged.push_base(args.repo, args.head, judged.load_record(args.record), args.before)
    sys.stdout.write(chosen.github_output())
    return 0


def cmd_ci_report(args: argparse.Namespace) -> int:
    checks = [ci.parse_check(c) for c in args.check]
    for line in ci.annotation_lines(checks):
        print(line)
    if args.summary is not None:
        with args.summary.open("a") as out:
            out.write(ci.summary(checks))
    return 1 if ci.failed(checks) else 0


def cmd_judged_record(args: argparse.Namespace) -> int:
    if args.exit_code not in (0, 1):
        raise BenchRunError(f"a run that exited {args.exit_code} judged nothing: no record written")
    doc = judged.record(args.commit, args.base or None, args.run, args.exit_code)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def cmd_single(args: argparse.Namespace) -> int:
    spec = RunSpec(args.profile, args.filter)
    data = run(BenchBinary(args.bench, "head"), spec, args.out)
    print(f"benchrun: {len(data['benchmarks'])} rows -> {args.out}", file=sys.stderr)
    return 0


def cmd_ab(args: argparse.Namespace) -> int:
    if args.base_bench is not None:
        base_path = args.base_bench
    else:
        ab.log(f"building base revision {args.base_ref}")
        base_path = build.build_revision(REPO_ROOT, args.base_ref, args.build_dir)
    settings = ab.AbSettings(args.rounds, args.confirm_rounds, args.min_time, args.schedule)
    return ab.judge(BenchBinary(base_path, "base"), BenchBinary(args.head_bench, "head"),
                    RunSpec(args.profile, args.filter), settings, args.report_dir, args.gate_args)


def _regex(text: str | None, option: str) -> None:
    if text is None:
        return
    try:
        re.compile(text)
    except re.error as exc:
        raise BenchRunError(f"{option}: bad regex '{text}': {exc}") from None


def cmd_diff_profile(args: argparse.Namespace) -> int:
    _regex(args.filter, "--filter")
    if args.max_benchmarks < 1:
        raise BenchRunError("--max-benchmarks must be at least 1")
    if args.ops is not None and args.ops < 1:
        raise BenchRunError("--ops must be a positive number")
    if args.build_only:
        print(profile.profile_build(REPO_ROOT, args.build_dir / "profile"))
        return 0
    if args.verdict is None:
        raise BenchRunError("diff-profile needs --verdict (or --build-only)")
    profile.verdict_rows(args.verdict)  # a verdict perfgate cannot load is bad input: exit 2, before any build
    base_ref = args.base_ref
    if args.base_from_baseline is not None:
        base_ref = profile.baseline_commit(args.base_from_baseline)
    line = profile.explain(profile.Config(REPO_ROOT, args.build_dir, args.report_dir, args.verdict, base_ref,
                                          base_src=args.base_src, filter_regex=args.filter,
                                          max_benchmarks=args.max_benchmarks, ops=args.ops,
                                          check_args=args.check_args))
    print(f"benchrun: {line or 'differential profile: nothing was flagged'}", file=sys.stderr)
    return 0


def _split_gate_args(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def cmd_perf_gate(args: argparse.Namespace) -> int:
    try:
        opts = _perf_gate_options(args)
        outcome = pipeline.execute(opts)
    except BenchRunError as exc:
        print(f"perf-gate: ERROR (exit 2): {exc}")  # the verdict line, on stdout like PASS and FAIL
        return 2
    for note in outcome.notes:
        print(f"perf-gate: {note}", file=sys.stderr)
    print(pipeline.final_line(outcome))
    return outcome.exit_code


def _perf_gate_options(args: argparse.Namespace) -> pipeline.Options:
    for word in args.assignments:
        name, sep, value = word.partition("=")
        if not sep or name not in ASSIGNABLE:
            raise BenchRunError(f"unexpected argument '{word}' (expected NAME=VALUE with NAME one of "
                                f"{', '.join(ASSIGNABLE)}, or an option; see --help)")
        if value:
            setattr(args, ASSIGNABLE[name], Path(value) if name.endswith("_DIR") else value)
    repo = args.repo.resolve()
    return pipeline.Options(
        repo=repo, build_dir=(args.build_dir or repo / "build").resolve(),
        report_dir=(args.report_dir or repo / "reports").resolve(), profile=args.profile or "quick",
        base=args.base or None, no_base=args.no_base, filter_regex=args.filter or None, head_bench=args.head_bench,
        head_instr=args.head_instr, base_bench=args.base_bench, instructions=not args.no_instructions,
        instr_filter=args.instr_filter, enforce_baseline_timing=args.enforce_baseline_timing,
        no_skip=args.no_skip, ab_settings=ab.AbSettings(args.rounds, args.confirm_rounds, args.min_time,
                                                                peers=args.ab_peers),
        gate_args=args.gate_args, diff_profile=not args.no_diff_profile,
        diff_profile_filter=_checked_regex(args.diff_profile_filter, "--diff-profile-filter"))


def _checked_regex(text: str | None, option: str) -> str | None:
    _regex(text, option)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    gate_args: list[str] = []
    if argv[:1] == ["perf-gate"]:
        argv, gate_args = _split_gate_args(argv)
    args = build_parser().parse_args(argv)
    if args.command == "perf-gate":
        args.gate_args = gate_args
    handlers = {"single": cmd_single, "ab": cmd_ab, "instr": cmd_instr, "selftest": cmd_selftest,
                "perf-gate": cmd_perf_gate, "push-base": cmd_push_base, "judged-record": cmd_judged_record,
                "ci-report": cmd_ci_report, "diff-profile": cmd_diff_profile}
    return handlers[args.command](args)
