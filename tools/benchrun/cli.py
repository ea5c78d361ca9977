"""Command line of benchrun: argument parsing only; the work lives in the modules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchrun import ab, build, gbjson, instr, selftest
from benchrun.errors import BenchRunError
from benchrun.runner import BenchBinary, RunSpec, run

REPO_ROOT = Path(__file__).resolve().parent.parent.parent



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchrun", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    single = sub.add_parser("single", help="run one profile of one state_bench binary")
    single.add_argument("--bench", type=Path, required=True, help="path of state_bench")
    single.add_argument("--profile", default="quick")
    single.add_argument("--filter", default=None, help="--benchmark_filter regex")
    single.add_argument("--out", type=Path, required=True, help="JSON file to write")

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
    ins = sub.add_parser("instr", help="instructions per operation under callgrind (state_instr)")
    ins.add_argument("--bench", type=Path, required=True, help="path of state_instr")
    ins.add_argument("--ops", type=int, default=instr.DEFAULT_OPS, help="operations per workload")
    ins.add_argument("--filter", default=".", help="regex of workload names")
    ins.add_argument("--out", type=Path, required=True, help="JSON file to write")

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"single": cmd_single, "ab": cmd_ab, "instr": cmd_instr, "selftest": cmd_selftest}
    return handlers[args.command](args)
