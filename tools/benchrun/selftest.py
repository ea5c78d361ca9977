"""The perf gate's self-test: how often does each mode cry wolf, and how often
does it catch a real slowdown?

For each mode (committed baseline, same-run A/B, instruction counts) and each
case (A/A: the same build against itself; A/B: a build whose target benchmark
is made PCT% slower per operation by the benchmark-side build option
STATESTORE_BENCH_SLOWDOWN, never by code in core/), K trials run the mode's
full decision procedure and record the gate's verdict:

  baseline      a baseline recorded once from the reference build at the start,
                then per trial one quick-profile run of the candidate, judged
                by `perfgate check` (median > threshold and U test).
  ab            per trial the A/B of benchrun (its schedule: paired by default;
                confirmation re-run of flagged benchmarks), judged with --mode ab.
  instructions  a callgrind baseline recorded once, then per trial one
                state_instr run of the candidate (2% threshold).

The reference build ("A") is compiled with the slowdown hook present but
matching no benchmark, so A and B differ in nothing but the injected work. As a
pull request's `BASE=` does, A and every B come from two separate checkouts of
HEAD (git worktrees build/selftest-src-a and -b) and two build directories: the
A/A case compares two builds, not one binary with itself (two builds can differ by
their code layout alone, which is why benches/source_dir.cc.in keeps the source path
out of the benchmarks' code; README.md, "The default check, two builds").
Trials run case by case inside each trial index (A/A, 5%, 10%, ... then the
next index), so a slow spell of the shared machine spreads over all cases.

A trial *fails* when the gate exits 1. For A/A every failure is a false alarm.
For A/B a trial *catches* the slowdown when the target benchmark's status is
"regressed"; a failure naming only other benchmarks is counted apart.
Results go to <report-dir>/selftest/{selftest.json,selftest.md}.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchrun import ab, gate, gbjson, instr
from benchrun.errors import BenchRunError
from benchrun.runner import BenchBinary, RunSpec, run
from perfgate import status, verdict as verdict_file
from perfgate.errors import PerfGateError

MODES = ("baseline", "ab", "instructions")
# A cache-resident scan (about 250 ns an operation here): fine-grained enough for
# a calibrated 5% and quiet enough to say what the gate does, not what the
# machine does. The memory-bound state_get_inmemory/100000 moves +-20% between
# adjacent runs here; see README for what the gate does with it.
DEFAULT_TARGET = "state_range/results/100"
# The other benchmarks of each trial: a cheap mix of point and scan operations,
# present so that A/A and A/B also show false alarms on benchmarks not slowed.
DEFAULT_COMPANIONS = ("state_get_inmemory/1000", "state_get_mmap/1000", "state_put_inmemory/1000",
                      "state_range/results/100")
NO_TARGETS = 'format_version = 1\nknown_profiles = ["tiny", "quick", "full"]\n'


@dataclass
class Trial:
    mode: str
    slowdown_pct: int
    index: int
    exit_code: int
    target_status: str
    target_delta_pct: float | None
    other_failures: list[str]
    seconds: float


@dataclass
class Config:
    repo: Path
    build_root: Path
    work: Path
    target: str = DEFAULT_TARGET
    companions: tuple[str, ...] = DEFAULT_COMPANIONS
    profile: str = "quick"
    ab_settings: ab.AbSettings = field(default_factory=ab.AbSettings)
    instr_ops: int = 20_000
    # Run every benchmark of the profile in each trial (what a pull request's
    # check runs), not just the target and its companions: the false-alarm
    # rate of the whole check, at the price of minutes per trial.
    whole_profile: bool = False

    @property
    def names(self) -> list[str]:
        return [self.target, *(c for c in self.companions if c != self.target)]

    @property
    def filter_regex(self) -> str | None:
        return None if self.whole_profile else ab.filter_for(self.names)

    @property
    def scope(self) -> str:
        if self.whole_profile:
            return f"every benchmark of the `{self.profile}` profile"
        return "companions " + ", ".join(f"`{c}`" for c in self.names[1:])


def checkout(config: Config, name: str) -> Path:
    """A detached worktree of HEAD at build_root/selftest-src-NAME (reused across runs)."""
    src = (config.build_root / f"selftest-src-{name}").resolve()
    head = subprocess.run(["git", "-C", str(config.repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=False)
    if head.returncode != 0:
        raise BenchRunError(f"the self-test builds from git worktrees, and {config.repo} is not a git checkout")
    commit = head.stdout.strip()
    if (src / ".git").exists():
        cmd = ["git", "-C", str(src), "checkout", "-q", "--detach", commit]
    else:
        config.build_root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(config.repo), "worktree", "prune"], capture_output=True, check=False)
        cmd = ["git", "-C", str(config.repo), "worktree", "add", "-q", "--detach", str(src), commit]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchRunError(f"cannot check out HEAD into {src}: {done.stderr.strip()}")
    return src


@dataclass(frozen=True)
class Variant:
    slowdown_pct: int
    bench: Path
    instr: Path


def log(msg: str) -> None:
    ab.log(f"selftest: {msg}")


def build_variant(config: Config, pct: int, source: Path | None = None, suffix: str = "") -> Variant:
    """Configures and builds state_bench and state_instr from `source` (default: the
    repository) with the slowdown hook: matching nothing for pct 0, else the target
    benchmark at pct%."""
    source = source or config.repo
    out = config.build_root / (("selftest-ref" if pct == 0 else f"selftest-slow{pct}") + suffix +
                               ("-peers" if config.whole_profile else ""))
    regex = "^no-benchmark-has-this-name$" if pct == 0 else f"^{re.escape(config.target)}$"
    setting = f"{regex}:{pct or 1}"
    log(f"building {out.name} (STATESTORE_BENCH_SLOWDOWN={setting})")
    for cmd in (["cmake", "-S", str(source), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
                 "-DSTATESTORE_BUILD_TESTS=OFF",
                 # A whole-profile trial runs what a pull request runs, peers included.
                 f"-DSTATESTORE_BUILD_PEERS={'ON' if config.whole_profile else 'OFF'}",
                 f"-DSTATESTORE_BENCH_SLOWDOWN={setting}"],
                ["cmake", "--build", str(out), "-j", str(os.cpu_count() or 2),
                 "--target", "state_bench", "state_instr"]):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise BenchRunError(f"building {out.name} failed: {tail}")
    return Variant(pct, out / "benches" / "state_bench", out / "benches" / "state_instr")


def _verdict(report_dir: Path) -> dict[str, Any]:
    try:
        return verdict_file.load_verdict(report_dir / "verdict.json")
    except PerfGateError as exc:
        raise BenchRunError(f"cannot read the gate's verdict in {report_dir}: {exc}") from None


def _target_outcome(verdict: dict[str, Any], mode: str, target: str) -> tuple[str, float | None, list[str]]:
    """What a trial's verdict says of the slowed benchmark (its status and change, in the mode's
    metric) and which other benchmarks it failed."""
    metric = "instructions_per_op" if mode == "instructions" else "real_time"
    target_rows = [r for r in verdict["rows"] if r["benchmark"] == target and r["metric"] == metric]
    row = target_rows[0] if target_rows else {"status": status.MISSING, "delta_pct": None}
    others = sorted({r["benchmark"] for r in verdict["rows"] if r.get("fails") and r["benchmark"] != target})
    return row["status"], row.get("delta_pct"), others


class Runner:
    """Runs the trials of one mode; `prepare` records what the mode compares against."""

    def __init__(self, config: Config, reference: Variant, targets: Path) -> None:
        self.config = config
        self.reference = reference
        self.gate_args = ["--no-history", "--quiet", "--targets", str(targets)]
        self.baselines: dict[str, Path] = {}

    def prepare(self, mode: str) -> None:
        work = self.config.work / mode
        work.mkdir(parents=True, exist_ok=True)
        if mode == "baseline":
            results = work / "reference-results.json"
            run(BenchBinary(self.reference.bench, "reference"),
                RunSpec(self.config.profile, self.config.filter_regex), results, quiet=True)
            self.baselines[mode] = self._promote(results, work / "baseline.json")
        elif mode == "instructions":
            results = work / "reference-results.json"
            workloads = self.config.filter_regex or "."
            gbjson.write(instr.measure(self.reference.instr, self.config.instr_ops, workloads), results)
            self.baselines[mode] = self._promote(results, work / "baseline.json")

    def _promote(self, results: Path, out: Path) -> Path:
        # The reference build carries the (idle) slowdown hook, which the gate
        # refuses in a baseline unless told this is the self-test.
        code = gate.baseline(results, out, ["--allow-slowdown"])
        if code != 0:
            raise BenchRunError(f"cannot record the self-test baseline from {results} (exit {code})")
        return out

    def trial(self, mode: str, variant: Variant, index: int) -> Trial:
        report_dir = self.config.work / mode / f"slow{variant.slowdown_pct}-{index}"
        started = time.monotonic()
        if mode == "ab":
            code = ab.judge(BenchBinary(self.reference.bench, "A"), BenchBinary(variant.bench, "B"),
                            RunSpec(self.config.profile, self.config.filter_regex), self.config.ab_settings,
                            report_dir, self.gate_args)
        else:
            results = report_dir / "results.json"
            if mode == "baseline":
                run(BenchBinary(variant.bench, "candidate"),
                    RunSpec(self.config.profile, self.config.filter_regex), results, quiet=True)
            else:
                report_dir.mkdir(parents=True, exist_ok=True)
                workloads = self.config.filter_regex or "."
                gbjson.write(instr.measure(variant.instr, self.config.instr_ops, workloads), results)
            code = gate.check(self.baselines[mode], results, report_dir, self.gate_args)
        seconds = round(time.monotonic() - started, 1)
        if code not in (0, 1):
            raise BenchRunError(f"selftest {mode} trial {index}: the gate exited {code} (bad input); see {report_dir}")
        target_status, delta, others = _target_outcome(_verdict(report_dir), mode, self.config.target)
        return Trial(mode, variant.slowdown_pct, index, code, target_status, delta, others, seconds)


def summarise(trials: list[Trial]) -> list[dict[str, Any]]:
    """One row per (mode, case): failures out of K and the wall time per trial."""
    rows = []
    keys = sorted({(t.mode, t.slowdown_pct) for t in trials}, key=lambda k: (MODES.index(k[0]), k[1]))
    for mode, pct in keys:
        group = [t for t in trials if t.mode == mode and t.slowdown_pct == pct]
        deltas = [t.target_delta_pct for t in group if t.target_delta_pct is not None]
        seconds = [t.seconds for t in group]
        rows.append({
            "mode": mode,
            "case": "A/A" if pct == 0 else f"+{pct}%",
            "slowdown_pct": pct,
            "trials": len(group),
            "failed": sum(1 for t in group if t.exit_code == 1),
            "caught": sum(1 for t in group if t.target_status == status.REGRESSED),
            "other_failures": sum(1 for t in group if t.other_failures),
            "target_delta_median_pct": round(statistics.median(deltas), 1) if deltas else None,
            "target_delta_min_pct": round(min(deltas), 1) if deltas else None,
            "target_delta_max_pct": round(max(deltas), 1) if deltas else None,
            "seconds_median": round(statistics.median(seconds), 1),
        })
    return rows


def markdown(rows: list[dict[str, Any]], config: Config, machine: str, started: str) -> str:
    lines = [
        "# perf gate self-test",
        "",
        f"Target `{config.target}` (slowed per operation by the STATESTORE_BENCH_SLOWDOWN build option), "
        f"{config.scope}; profile `{config.profile}`; "
        f"A/B schedule `{config.ab_settings.schedule}`, {config.ab_settings.rounds} rounds + "
        f"{config.ab_settings.confirm_rounds} confirmation rounds, "
        f"min time {config.ab_settings.min_time} s. Machine: {machine}. Started {started}.",
        "",
        "A/A: a failed trial is a false alarm. A/B: *caught* = the target was judged regressed; "
        "*other* = trials failing on a benchmark that was not slowed. Δ = the target's measured change "
        "(min / median / max over the trials).",
        "",
        "| mode | case | trials | failed | caught | other | target Δ% min / median / max | s per trial (median) |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        caught = "" if r["slowdown_pct"] == 0 else f"{r['caught']}/{r['trials']}"
        delta = ("n/a" if r["target_delta_median_pct"] is None else
                 f"{r['target_delta_min_pct']:+.1f} / {r['target_delta_median_pct']:+.1f} / "
                 f"{r['target_delta_max_pct']:+.1f}")
        lines.append(f"| {r['mode']} | {r['case']} | {r['trials']} | {r['failed']}/{r['trials']} | {caught} | "
                     f"{r['other_failures']} | {delta} | {r['seconds_median']} |")
    return "\n".join(lines) + "\n"


def run_selftest(config: Config, modes: list[str], cases: list[int], trials: int,
                 on_trial: Callable[[Trial], None] | None = None) -> list[dict[str, Any]]:
    for mode in modes:
        if mode not in MODES:
            raise BenchRunError(f"unknown self-test mode '{mode}' (expected {', '.join(MODES)})")
    if any(pct < 0 for pct in cases):
        raise BenchRunError("slowdown cases must be percentages >= 0")
    config.work.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    src_a, src_b = checkout(config, "a"), checkout(config, "b")
    reference = build_variant(config, 0, src_a)
    variants = {pct: build_variant(config, pct, src_b, "-b" if pct == 0 else "") for pct in sorted({0, *cases})}
    targets = config.work / "no_targets.toml"
    targets.write_text(NO_TARGETS)
    runner = Runner(config, reference, targets)
    results: list[Trial] = []
    out_json = config.work / "selftest.json"
    machine = instr.context_of(reference.instr).get("statestore_machine", "unknown")
    for mode in modes:
        log(f"mode {mode}: recording what it compares against")
        runner.prepare(mode)
        for index in range(trials):
            for pct in cases:
                trial = runner.trial(mode, variants[pct], index)
                results.append(trial)
                log(f"{mode} {'A/A' if pct == 0 else f'+{pct}%'} trial {index + 1}/{trials}: exit "
                    f"{trial.exit_code}, target {trial.target_status} "
                    f"({'n/a' if trial.target_delta_pct is None else f'{trial.target_delta_pct:+.1f}%'}), "
                    f"{trial.seconds} s")
                if on_trial:
                    on_trial(trial)
                rows = summarise(results)
                out_json.write_text(json.dumps({"machine": machine, "started": started, "summary": rows,
                                                "trials": [asdict(t) for t in results]}, indent=1))
                (config.work / "selftest.md").write_text(markdown(rows, config, machine, started))
    return summarise(results)
