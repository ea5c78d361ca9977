"""Command line of benchrun: argument parsing only; the work lives in the modules."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from benchrun import ab, build, gate, gbjson, instr
from benchrun.runner import BenchBinary, RunSpec, run

REPO_ROOT = Path(__file__).resolve().parent.parent.parent

# Rounds of the interleaved A/B. Five samples per side is the fewest for which a
# two-sided Mann-Whitney U test can reach p < 0.05 with room to spare (the
# smallest attainable two-sided p with 5 vs 5 is 0.008); more rounds cost time
# linearly. The confirmation re-run adds CONFIRM_ROUNDS for flagged benchmarks only.
DEFAULT_ROUNDS = 6
CONFIRM_ROUNDS = 6


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
    abp.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    abp.add_argument("--confirm-rounds", type=int, default=CONFIRM_ROUNDS)
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
    return parser


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
    work = args.report_dir / "ab"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if args.base_bench is not None:
        base_path = args.base_bench
    else:
        ab.log(f"building base revision {args.base_ref}")
        base_path = build.build_revision(REPO_ROOT, args.base_ref, args.build_dir)
    base = BenchBinary(base_path, "base")
    head = BenchBinary(args.head_bench, "head")
    spec = RunSpec(args.profile, args.filter)
    base_parts, head_parts = ab.run_ab(base, head, spec, args.rounds, work)
    sides = ab.write_sides(base_parts, head_parts, work)
    code = gate.check(sides.base_file, sides.head_file, args.report_dir, ["--mode", "ab", *args.gate_args])
    if code != 1 or args.confirm_rounds <= 0:
        return code
    flagged = gate.regressed_benchmarks(args.report_dir)
    if not flagged:
        return code
    ab.log(f"confirming {len(flagged)} flagged benchmark(s): {', '.join(flagged)}")
    first_verdict = work / "verdict-first-pass.json"
    shutil.copyfile(args.report_dir / "verdict.json", first_verdict)
    confirm_spec = RunSpec(args.profile, ab.filter_for(flagged), 1)
    more_base, more_head = ab.interleave(base, head, confirm_spec, args.confirm_rounds, work, "confirm")
    sides = ab.write_sides(base_parts + more_base, head_parts + more_head, work)
    return gate.check(sides.base_file, sides.head_file, args.report_dir,
                      ["--mode", "ab", "--confirm-from", str(first_verdict), *args.gate_args])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"single": cmd_single, "ab": cmd_ab, "instr": cmd_instr}
    return handlers[args.command](args)
