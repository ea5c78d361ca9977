"""`tools/perf-gate`: the one command people, README and CI call; exits 0 / 1 / 2 exactly.

It builds the head, decides from git what to compare (benchrun.plan), prints that
decision in one line, and judges with the method that holds on the machine at hand:

  1. instruction counts of the head under callgrind against baselines/instructions.json
     (when valgrind is installed and the baseline comes from this compiler and these
     flags): deterministic, so a committed baseline holds its 2% line anywhere;
  2. timing: a same-run A/B against the base revision when there is one; otherwise the
     profile against the committed baseline for the F-PERF-001 targets and allocations,
     with timing reported and not enforced (a committed wall-time baseline cannot hold
     a 10% line on a shared machine; one from another machine is never enforced, one
     from this machine only with --enforce-baseline-timing).

Before any of it, a change that cannot alter what the benchmarks execute is not
measured at all: no change under core/, benches/, CMakeLists.txt (seconds), or, once
the base is built, identical object code (benchrun.codeid). Both print "no code change:
benchmarks not re-run" and pass.

Every run writes <report-dir>/decision.json (what was compared, why, the exit code of
each check) and puts the decision at the top of summary.md. Exit: 2 when any check met
bad input, else 1 when any failed, else 0.
"""

from __future__ import annotations

import dataclasses

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchrun import ab, build, codeid, gate, gbjson, instr, plan
from benchrun import profile as diff_profile
from benchrun.errors import BenchRunError
from benchrun.runner import BenchBinary, RunSpec, run
from perfgate import baseline as perfgate_baseline
from perfgate import results as perfgate_results
from perfgate import targets as perfgate_targets
from perfgate import verdict
from perfgate.errors import PerfGateError
from perfgate.fmt import md_code, md_text

TIMING_PROFILES = ("tiny", "quick", "full")
PROFILES = (*TIMING_PROFILES, "instructions")
INSTRUCTIONS_BASELINE = Path("baselines") / "instructions.json"


@dataclass
class Options:
    repo: Path
    build_dir: Path
    report_dir: Path
    profile: str = "quick"
    base: str | None = None
    no_base: bool = False
    filter_regex: str | None = None
    # Already-built programs (tests, the self-test): then nothing is built.
    head_bench: Path | None = None
    head_instr: Path | None = None
    base_bench: Path | None = None
    instructions: bool = True
    instr_filter: str = "."
    enforce_baseline_timing: bool = False
    no_skip: bool = False
    ab_settings: ab.AbSettings = field(default_factory=ab.AbSettings)
    gate_args: list[str] = field(default_factory=list)
    # After the verdict: a differential callgrind profile of each regressed benchmark
    # (benchrun/profile.py), and of those matching diff_profile_filter on request.
    diff_profile: bool = True
    diff_profile_filter: str | None = None


@dataclass
class Outcome:
    """What one invocation decided and found (decision.json)."""

    line: str
    kind: str
    base: str | None = None
    base_label: str = ""
    head_label: str = ""
    commits: int = 0
    changed_inputs: list[str] = field(default_factory=list)
    compared: str = ""
    checks: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Wall seconds per phase (build, base build, code comparison, instructions, timing, profile).
    phases: dict[str, float] = field(default_factory=dict)

    def timed(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - since, 1)
        return now
    # The arguments of the check whose report the differential profile joins.
    timing_check: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        codes = set(self.checks.values())
        return 2 if 2 in codes else 1 if 1 in codes else 0


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _build_head(opts: Options) -> None:
    say(f"perf-gate: building the working tree (make build BUILD_DIR={opts.build_dir})")
    done = subprocess.run(["make", "--no-print-directory", "-C", str(opts.repo), "build",
                           f"BUILD_DIR={opts.build_dir}"], check=False)
    if done.returncode != 0:
        raise BenchRunError(f"the working tree does not build (make build exited {done.returncode})")


def _head_paths(opts: Options) -> tuple[Path, Path]:
    release = opts.build_dir / "release" / "benches"
    return (opts.head_bench or release / "state_bench", opts.head_instr or release / "state_instr")


def _verdict(report_dir: Path) -> dict[str, Any]:
    try:
        return verdict.load_verdict(report_dir / "verdict.json")
    except PerfGateError as exc:
        raise BenchRunError(f"cannot read the gate's verdict ({exc})") from None


def _failing(report_dir: Path) -> list[str]:
    verdict = _verdict(report_dir)
    rows = [r["benchmark"] + ("" if r.get("metric") == "real_time" else f" [{r.get('metric')}]")
            for r in verdict.get("rows", []) if r.get("fails")]
    rows += [f"{t['benchmark']} [{t.get('metric')} target]" for t in verdict.get("targets", []) if t.get("fails")]
    return rows


def _instruction_mismatch(baseline: Path, binary: Path) -> str | None:
    """Why counts of `binary` cannot be compared with `baseline`, or None."""
    ctx = instr.context_of(binary)
    recorded = _read(perfgate_baseline.load_baseline, baseline)
    for key, what in (("statestore_compiler", "compiler"), ("statestore_cxx_flags", "flags")):
        if recorded.ctx(key) and ctx.get(key) and recorded.ctx(key) != ctx.get(key):
            return (f"{baseline} was recorded with {what} '{recorded.ctx(key)}', this build uses "
                    f"'{ctx.get(key)}'")
    return None


def _read(reader: Callable[[Path], Any], path: Path) -> Any:
    """A perfgate reader's result; its PerfGateError (one line naming the file) as ours."""
    try:
        return reader(path)
    except PerfGateError as exc:
        raise BenchRunError(str(exc)) from None


def _trimmed_baseline(baseline: Path, names: set[str], out: Path) -> Path:
    """The baseline narrowed to the workloads a filtered run measured (the others are not
    missing, just not asked for)."""
    doc = _read(perfgate_results.read_document, baseline)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b.get("name") in names or b.get("run_name") in names]
    perfgate_baseline.write_baseline(doc, out)
    return out


def check_instructions(opts: Options, state_instr: Path, outcome: Outcome) -> Path | None:
    """Step 1; returns the instruction verdict.json (None when not run)."""
    baseline = opts.repo / INSTRUCTIONS_BASELINE
    if not opts.instructions:
        outcome.notes.append("instruction counts not checked: switched off (--no-instructions)")
        return None
    if shutil.which("valgrind") is None:
        outcome.notes.append("instruction counts not checked: valgrind is not installed (tools/setup.sh test)")
        return None
    if not state_instr.is_file():
        raise BenchRunError(f"state_instr not found: {state_instr} (build it first)")
    mismatch = _instruction_mismatch(baseline, state_instr)
    if mismatch:
        outcome.notes.append(f"instruction counts not checked: {mismatch}")
        return None
    out_dir = opts.report_dir / "instructions"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results-instructions.json"
    say(f"perf-gate: instruction counts under callgrind against {INSTRUCTIONS_BASELINE}")
    data = instr.measure(state_instr, instr.DEFAULT_OPS, opts.instr_filter)
    gbjson.write(data, results)
    if opts.instr_filter != ".":
        baseline = _trimmed_baseline(baseline, {r["name"] for r in data["benchmarks"]}, out_dir / "baseline.json")
    code = gate.check(baseline, results, out_dir, [*_targets(opts), "--no-history", "--quiet"])
    outcome.checks["instructions"] = code
    if code == 1:
        outcome.failing += _failing(out_dir)
    return out_dir / "verdict.json" if code != 2 else None


def _validate_inputs(opts: Options, kind: str) -> None:
    """The committed files this run will judge against, read before anything is built:
    a bad one is exit 2 in a second, not after minutes of building and benchmarking."""
    _read(perfgate_targets.load_targets, opts.repo / "baselines" / "targets.toml")
    if kind == "baseline":
        _read(perfgate_baseline.load_baseline, opts.repo / "baselines" / f"{opts.profile}.json")
    if opts.instructions and shutil.which("valgrind") is not None:
        _read(perfgate_baseline.load_baseline, opts.repo / INSTRUCTIONS_BASELINE)


def _targets(opts: Options) -> list[str]:
    """The target table of the checkout being judged (a later --targets in GATE_ARGS wins)."""
    return ["--targets", str(opts.repo / "baselines" / "targets.toml")]


def _gate_args(opts: Options, instructions: Path | None) -> list[str]:
    return [*_targets(opts), *opts.gate_args, *(["--instructions", str(instructions)] if instructions else [])]


def _same_machine(baseline: Path, results_file: Path) -> tuple[bool, str, str]:
    recorded = _read(perfgate_baseline.load_baseline, baseline)
    current = _read(perfgate_results.load_results, results_file)
    return (bool(recorded.machine) and recorded.machine == current.machine, recorded.machine, current.machine)


def against_baseline(opts: Options, head: BenchBinary, instructions: Path | None, outcome: Outcome) -> None:
    """Step 2 without a base: targets and allocations enforced, timing reported."""
    baseline = opts.repo / "baselines" / f"{opts.profile}.json"
    results = opts.report_dir / f"results-{opts.profile}.json"
    say(f"perf-gate: state_bench --profile={opts.profile} against {baseline.relative_to(opts.repo)}")
    run(head, RunSpec(opts.profile, opts.filter_regex), results)
    enforce = False
    if opts.enforce_baseline_timing:
        same, recorded, current = _same_machine(baseline, results)
        if same:
            enforce = True
            outcome.notes.append("timing enforced against the committed baseline (--enforce-baseline-timing; "
                                 "recorded on this machine)")
        else:
            outcome.notes.append(f"timing not enforced although asked: the baseline was recorded on "
                                 f"'{recorded or 'an unknown machine'}', this run is on '{current}'")
    args = _gate_args(opts, instructions) + ([] if enforce else ["--no-fail-on-timing"])
    code = gate.check(baseline, results, opts.report_dir, args)
    outcome.timing_check = ["--baseline", str(baseline), "--results", str(results), "--report-dir",
                            str(opts.report_dir), *args]
    outcome.checks["timing"] = code
    if code == 1:
        outcome.failing += _failing(opts.report_dir)


def same_run_ab(opts: Options, base: BenchBinary, head: BenchBinary, instructions: Path | None,
                outcome: Outcome) -> None:
    code = ab.judge(base, head, RunSpec(opts.profile, opts.filter_regex), opts.ab_settings, opts.report_dir,
                    _gate_args(opts, instructions))
    outcome.timing_check = diff_profile.ab_check_args(opts.report_dir, _gate_args(opts, instructions))
    outcome.checks["ab"] = code
    if code == 1:
        outcome.failing += _failing(opts.report_dir)


def peers_changed(differences: list[str]) -> bool:
    """Whether the peer benchmarks can time different code in base and head: their
    adapters' objects (benches/peers.*) or a link line (the libraries) differ."""
    return any(d.startswith("link line") or "peers" in Path(d).name for d in differences)


def _with_peer_decision(opts: Options, differences: list[str], outcome: Outcome) -> Options:
    if opts.ab_settings.peers:
        return opts
    if peers_changed(differences):
        outcome.notes.append("peer benchmarks re-run: their adapters or the link line differ")
        return dataclasses.replace(opts, ab_settings=dataclasses.replace(opts.ab_settings, peers=True))
    outcome.notes.append("peer benchmarks not re-run: benches/peers.* and the link lines are the same in base "
                         "and head, so they time the same code (--ab-peers runs them)")
    return opts


def _clear(report_dir: Path) -> None:
    """Reports of an earlier invocation must not pass for this one's."""
    for name in ("verdict.json", "summary.md", "report.html", "decision.json"):
        (report_dir / name).unlink(missing_ok=True)
    if (report_dir / "instructions").is_dir():
        shutil.rmtree(report_dir / "instructions")


def execute(opts: Options) -> Outcome:
    started = time.monotonic()
    if opts.profile not in PROFILES:
        raise BenchRunError(f"unknown PROFILE={opts.profile} (expected one of {', '.join(PROFILES)})")
    opts.report_dir.mkdir(parents=True, exist_ok=True)
    _clear(opts.report_dir)
    outcome = _instructions_profile(opts) if opts.profile == "instructions" else _compare(opts)
    return _finish(opts, outcome, started)


def _instructions_profile(opts: Options) -> Outcome:
    """PROFILE=instructions: the head's counts against baselines/instructions.json, nothing else."""
    if opts.base:
        raise BenchRunError("PROFILE=instructions judges against baselines/instructions.json; "
                            "it takes no BASE=")
    outcome = Outcome("perf-gate: instruction counts against baselines/instructions.json (PROFILE=instructions)",
                      "instructions")
    say(outcome.line)
    if opts.head_instr is None:
        _build_head(opts)
    _only_instructions(opts, outcome)
    return outcome


def _compare(opts: Options) -> Outcome:
    """A timing profile: what git says to compare, the head (and base) built, instruction
    counts, then the A/B or the committed baseline, then the differential profile."""
    decision = plan.decide(opts.repo, opts.base, opts.no_base)
    outcome = Outcome(decision.line, decision.kind, decision.base, decision.base_label, decision.head_label,
                      decision.commits, decision.changed)
    say(decision.line)
    if decision.skip and not opts.no_skip:
        outcome.kind = "skip"
        outcome.compared = decision.skip_reason
        return outcome
    _validate_inputs(opts, decision.kind)
    mark = time.monotonic()
    if opts.head_bench is None:
        _build_head(opts)
    mark = outcome.timed("build", mark)
    head_path, instr_path = _head_paths(opts)
    head = BenchBinary(head_path, "head")
    head.check()
    base: BenchBinary | None = None
    if decision.kind == "ab":
        base = _base_build(opts, decision)
        mark = outcome.timed("base build", mark)
        differences = _code_differences(opts, base, head, outcome)
        mark = outcome.timed("code comparison", mark)
        if outcome.kind == "skip":
            return outcome
        opts = _with_peer_decision(opts, differences, outcome)
    instructions = check_instructions(opts, instr_path, outcome)
    mark = outcome.timed("instructions", mark)
    if base is not None:
        same_run_ab(opts, base, head, instructions, outcome)
    else:
        against_baseline(opts, head, instructions, outcome)
    mark = outcome.timed("timing", mark)
    explain(opts, outcome, decision.base if base is not None else None, opts.report_dir, outcome.timing_check,
            timing_flagged=base is not None)
    outcome.timed("profile", mark)
    return outcome


def _base_build(opts: Options, decision: plan.Plan) -> BenchBinary:
    """The A/B's base state_bench: built from the decided revision, or the one given."""
    assert decision.base is not None
    if opts.base_bench is None:
        say(f"perf-gate: building the base {decision.base_label} ({plan.short(decision.base)}) in "
            f"{opts.build_dir / 'base-src'}")
        base = BenchBinary(build.build_revision(opts.repo, decision.base, opts.build_dir), "base")
    else:
        base = BenchBinary(opts.base_bench, "base")
    base.check()
    return base


def _code_differences(opts: Options, base: BenchBinary, head: BenchBinary, outcome: Outcome) -> list[str]:
    """The inputs whose code differs between the two builds, noted in `outcome`; with none
    (and no --no-skip) `outcome` becomes a skip: the benchmarks would time the same code."""
    base_id = codeid.identity(base.path.parent.parent)
    head_id = codeid.identity(head.path.parent.parent)
    differences = base_id.differences(head_id)
    outcome.compared = f"compared {head_id.describe()}"
    if not differences and not opts.no_skip:
        outcome.kind = "skip"
        outcome.line = (f"perf-gate: no code change: benchmarks not re-run (base and head builds "
                        f"have identical code: {head_id.describe()})")
        say(outcome.line)
        return differences
    shown = ", ".join(differences[:4]) + (f", +{len(differences) - 4} more" if len(differences) > 4 else "")
    outcome.notes.append(f"code differs in {len(differences)} of the compared inputs: {shown}")
    say(f"perf-gate: {outcome.notes[-1]}")
    return differences


def _instruction_check_args(opts: Options) -> list[str]:
    """The arguments of check_instructions' `perfgate check` (to re-render its report)."""
    out_dir = opts.report_dir / "instructions"
    trimmed = out_dir / "baseline.json"
    baseline = trimmed if opts.instr_filter != "." and trimmed.exists() else opts.repo / INSTRUCTIONS_BASELINE
    return ["--baseline", str(baseline), "--results", str(out_dir / "results-instructions.json"),
            "--report-dir", str(out_dir), *_targets(opts)]


def explain(opts: Options, outcome: Outcome, base: str | None, report_dir: Path, check_args: list[str],
            timing_flagged: bool) -> None:
    """After the verdict, never changing it: a differential profile of what was flagged
    (A/B regressions against the A/B's base; instruction regressions against it too, or
    without one against the commit baselines/instructions.json was recorded at), joined
    to the report of `check_args`. Its one-line outcome becomes a note. Not with
    already-built programs (tests, the self-test): it would build its own."""
    if not opts.diff_profile or outcome.checks.get("ab", outcome.checks.get("timing")) == 2:
        return
    if opts.head_bench is not None or opts.head_instr is not None:
        return
    instr_verdict = opts.report_dir / "instructions" / "verdict.json"
    verdicts = ([opts.report_dir / "verdict.json"] if timing_flagged else []) + [instr_verdict]
    # The instruction check's report too, so that its ::error lines carry the contributors.
    also = ([_instruction_check_args(opts)] if report_dir != instr_verdict.parent and instr_verdict.is_file()
            else [])
    base_src = opts.build_dir / "base-src" if base is not None and opts.base_bench is None else None
    if base is None:
        base = diff_profile.baseline_commit(opts.repo / INSTRUCTIONS_BASELINE)
    cfg = diff_profile.Config(opts.repo, opts.build_dir, report_dir, verdicts[0], base, base_src=base_src,
                              filter_regex=opts.diff_profile_filter, check_args=check_args,
                              extra_verdicts=verdicts[1:], extra_checks=also)
    line = diff_profile.explain(cfg)
    if line:
        outcome.notes.append(line)


def _only_instructions(opts: Options, outcome: Outcome) -> None:
    _, instr_path = _head_paths(opts)
    instructions = check_instructions(opts, instr_path, outcome)
    if instructions is None and "instructions" not in outcome.checks:
        raise BenchRunError(outcome.notes[-1] if outcome.notes else "instruction counts could not be checked")
    explain(opts, outcome, None, opts.report_dir / "instructions", _instruction_check_args(opts),
            timing_flagged=False)
    # The instruction verdict is the report of this profile.
    for name in ("verdict.json", "summary.md", "report.html"):
        src = opts.report_dir / "instructions" / name
        if src.exists():
            shutil.copyfile(src, opts.report_dir / name)


def decision_markdown(outcome: Outcome) -> str:
    lines = ["### What the perf gate compared", "", md_text(outcome.line.removeprefix("perf-gate: ")), ""]
    if outcome.changed_inputs:
        shown = ", ".join(md_code(p, table=False) for p in outcome.changed_inputs[:8])
        more = f" and {len(outcome.changed_inputs) - 8} more" if len(outcome.changed_inputs) > 8 else ""
        lines += [f"Changed inputs of the benchmarks: {shown}{more}.", ""]
    if outcome.compared:
        lines += [f"Inputs compared: {md_text(outcome.compared)}.", ""]
    if outcome.commits > 1:
        lines += [f"The range holds {outcome.commits} commits: a regression is the range's, not necessarily "
                  f"its last commit's.", ""]
    if outcome.notes:
        lines += [f"- {md_text(note)}" for note in outcome.notes] + [""]
    checks = ", ".join(f"{name} exit {code}" for name, code in outcome.checks.items()) or "none ran"
    lines += [f"Checks: {checks}; overall exit {outcome.exit_code}.", ""]
    return "\n".join(lines)


def _finish(opts: Options, outcome: Outcome, started: float) -> Outcome:
    outcome.seconds = round(time.monotonic() - started, 1)
    record = {**asdict(outcome), "exit_code": outcome.exit_code}
    (opts.report_dir / "decision.json").write_text(json.dumps(record, indent=1) + "\n")
    summary = opts.report_dir / "summary.md"
    rest = summary.read_text() if summary.exists() else ""
    summary.write_text(decision_markdown(outcome) + ("\n" + rest if rest else ""))
    return outcome


def final_line(outcome: Outcome) -> str:
    code = outcome.exit_code
    word = {0: "PASS", 1: "FAIL", 2: "ERROR"}[code]
    detail = ""
    if outcome.failing:
        shown = ", ".join(outcome.failing[:6]) + (f", +{len(outcome.failing) - 6} more" if len(outcome.failing) > 6
                                                  else "")
        detail = f": {shown}"
    elif outcome.kind == "skip":
        detail = ": no code change"
    elif outcome.kind == "baseline" and code == 0:
        detail = ": targets and allocations met; timing reported, not enforced"
    phases = ", ".join(f"{name} {secs:g}" for name, secs in outcome.phases.items() if secs >= 0.1)
    return f"perf-gate: {word} (exit {code}) in {outcome.seconds:g} s{f' ({phases})' if phases else ''}{detail}"
