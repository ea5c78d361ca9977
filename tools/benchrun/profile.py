"""Differential callgrind profiles of the benchmarks a verdict flagged (after it, never changing it).

For every benchmark the gate judged ``regressed`` (in A/B mode after the
confirmation pass; in instruction mode against the committed baseline), and
any other benchmark matching ``--filter`` on request, this runs the
state_instr workload of the same name in a base build and a head build with
debug info, under callgrind with per-instruction costs and the cache
simulator, for the same fixed number of operations:

    valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no
             --dump-instr=yes --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=8388608,16,64
             state_instr --ops=N --filter=^NAME$

state_instr sets up the fixture uninstrumented and brackets the measured
loop with callgrind's client requests (benches/state_instr.cc), so the
dump holds those N operations and nothing else. The cache geometry is
fixed (a common 32 KiB 8-way L1, 8 MiB 16-way LL) rather than read from the
host: this VM reports a 384 MiB direct-mapped L3, which valgrind turns into
a 512 MiB 2-way simulation, and profiles should compare across runners.

The builds: ``build/profile`` (the working tree) and ``build/base-profile``
(the base revision, checked out in ``build/base-src`` as the A/B does), both
``-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g``: the Release flags plus
-g, which does not change what GCC generates (all 22 state_instr workloads
count the same instructions as in build/release; README).

It writes ``REPORT_DIR/diff-profile/manifest.json`` (what ran, where the dumps
are), has ``perfgate.profdiff`` turn it into ``REPORT_DIR/diff-profile.json``,
and re-renders the report with it (``perfgate check ... --diff-profile``, the same
inputs as the verdict, so the same verdict). Whatever goes wrong here (no
valgrind, a build failure) is written into diff-profile.json as the reason the
profile was skipped; the gate's exit code is the caller's, untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchrun import build
from benchrun.errors import BenchRunError
from benchrun.gate import TOOLS_DIR
from benchrun.instr import DEFAULT_OPS
from perfgate import baseline as perfgate_baseline
from perfgate import profile_view
from perfgate import verdict as perfgate_verdict
from perfgate.errors import PerfGateError

FORMAT = "statestore-profile/1"
CALLGRIND_ARGS = ["--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no", "--dump-instr=yes",
                  "--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64"]
PROFILE_CMAKE_ARGS = ["-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS=-g", "-DSTATESTORE_BUILD_TESTS=OFF",
                      "-DSTATESTORE_BUILD_PEERS=OFF"]
# The budget: at most this many flagged benchmarks are profiled per run (the largest
# regressions first); the rest are listed as skipped, with the reason.
DEFAULT_MAX_BENCHMARKS = 3
_OPS = re.compile(r"^(?P<name>\S+) ops=(?P<ops>\d+)$", re.MULTILINE)


def log(msg: str) -> None:
    print(f"benchrun: {msg}", file=sys.stderr, flush=True)


@dataclass
class Config:
    repo: Path
    build_dir: Path
    report_dir: Path
    verdict: Path
    base_ref: str | None
    base_src: Path | None = None
    filter_regex: str | None = None
    max_benchmarks: int = DEFAULT_MAX_BENCHMARKS
    ops: int | None = None
    check_args: list[str] = field(default_factory=list)
    # More verdicts whose regressions to explain too (the instruction check's); absent files are skipped,
    # one that cannot be read skips the profile with perfgate's message as the reason.
    extra_verdicts: list[Path] = field(default_factory=list)
    # The arguments of more checks to re-render with the profile (their verdict.json then names the contributors).
    extra_checks: list[list[str]] = field(default_factory=list)


def flagged(verdict: dict[str, Any], filter_regex: str | None = None) -> list[tuple[str, str]]:
    """(benchmark, status) worth a profile, most evident first: every row judged regressed
    (wall time or instructions) and every benchmark matching `filter_regex`; those asked
    for by the filter, then those regressed in more rows (wall time and instructions), then
    the largest wall-time change."""
    pattern = re.compile(filter_regex) if filter_regex else None
    picked: dict[str, dict[str, Any]] = {}
    for row in verdict.get("rows", []):
        name, status = row.get("benchmark"), row.get("status")
        if not isinstance(name, str):
            continue
        asked = pattern is not None and bool(pattern.search(name))
        if status == "regressed" or asked:
            p = picked.setdefault(name, {"asked": asked, "regressed": 0, "delta": 0.0, "status": str(status), "by": []})
            p["regressed"] += status == "regressed"
            if status == "regressed":
                p["status"] = "regressed"
                what = "instructions" if row.get("metric") == "instructions_per_op" else "wall time"
                delta = row.get("delta_pct")
                p["by"].append(what + (f" {delta:+.1f}%" if isinstance(delta, (int, float)) else ""))
            if row.get("metric", "real_time") == "real_time":
                p["delta"] = max(p["delta"], row.get("delta_pct") or 0.0)
    order = sorted(picked.items(), key=lambda kv: (not kv[1]["asked"], -kv[1]["regressed"], -kv[1]["delta"], kv[0]))
    return [(name, f"{p['status']} ({', '.join(p['by'])})" if p["by"] else p["status"]) for name, p in order]


def profile_build(src: Path, out: Path) -> Path:
    """Configures and builds state_instr with debug info; its path."""
    build._run(["cmake", "-S", str(src), "-B", str(out), *PROFILE_CMAKE_ARGS])
    build._run(["cmake", "--build", str(out), "-j", str(os.cpu_count() or 2), "--target", "state_instr"])
    binary = out / "benches" / "state_instr"
    if not binary.is_file():
        raise BenchRunError(f"the profiling build in {out} made no benches/state_instr (valgrind/callgrind.h missing?)")
    return binary


def checkout_base(repo: Path, ref: str, build_dir: Path) -> Path:
    """The base revision in build_dir/base-src (the worktree the A/B builds base from)."""
    commit = build.resolve(repo, ref)
    src = build_dir / "base-src"
    if (src / ".git").exists():
        build._run(["git", "-C", str(src), "checkout", "-q", "--detach", commit])
    else:
        build_dir.mkdir(parents=True, exist_ok=True)
        build._run(["git", "-C", str(repo), "worktree", "prune"])
        build._run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(src.resolve()), commit])
    return src


def baseline_commit(path: Path) -> str | None:
    """The commit a committed baseline was recorded at (None when it does not say); a
    baseline perfgate cannot load is a BenchRunError naming the file."""
    try:
        return perfgate_baseline.recorded_commit(path)
    except PerfGateError as exc:
        raise BenchRunError(str(exc)) from None


def verdict_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a verdict.json, validated by perfgate.verdict; a verdict it cannot load
    is a BenchRunError naming the file."""
    try:
        rows: list[dict[str, Any]] = perfgate_verdict.load_verdict(path)["rows"]
    except PerfGateError as exc:
        raise BenchRunError(str(exc)) from None
    return rows


def workloads(binary: Path) -> set[str]:
    done = subprocess.run([str(binary), "--list"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchRunError(f"{binary} --list exited with {done.returncode}: {done.stderr.strip()[:200]}")
    return set(done.stdout.split())


def _regex_exact(name: str) -> str:
    return "^" + re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", name) + "$"


def _start(valgrind: str, binary: Path, workload: str, ops: int | None, out: Path) -> subprocess.Popen[str]:
    cmd = [valgrind, *CALLGRIND_ARGS, f"--callgrind-out-file={out}.%p", str(binary),
           f"--filter={_regex_exact(workload)}"] + ([f"--ops={ops}"] if ops else [])
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], out: Path, workload: str) -> tuple[Path, int]:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        tail = " / ".join(stderr.strip().splitlines()[-3:])
        raise BenchRunError(f"state_instr under callgrind exited with {proc.returncode}: {tail}")
    match = next((m for m in _OPS.finditer(stdout) if m.group("name") == workload), None)
    dumps = sorted(out.parent.glob(f"{out.name}.*.1"))
    if match is None or not dumps:
        raise BenchRunError(f"callgrind wrote no profile of {workload}")
    for extra in out.parent.glob(f"{out.name}.*"):
        if extra not in dumps:
            extra.unlink()  # the dump at program exit: empty, collection was off
    return dumps[-1], int(match.group("ops"))


def run(cfg: Config) -> dict[str, Any]:
    """Builds, profiles and writes the manifest; returns it. Never raises for what
    it can state as a reason (the manifest's status then says skipped)."""
    started = time.monotonic()
    work = cfg.report_dir / "diff-profile"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    manifest: dict[str, Any] = {"format": FORMAT, "status": "ok", "reason": "", "benchmarks": [],
                                "settings": {"callgrind": " ".join(CALLGRIND_ARGS),
                                             "cmake": " ".join(PROFILE_CMAKE_ARGS), "base_ref": cfg.base_ref or ""}}
    try:
        rows = _rows(cfg.verdict, cfg.extra_verdicts)
    except BenchRunError as exc:
        if not cfg.verdict.exists():
            return _skip(manifest, f"no verdict to profile ({exc})", work, started, status="none")
        return _skip(manifest, f"a verdict cannot be read: {exc}", work, started)
    picked = flagged({"rows": rows}, cfg.filter_regex)
    if not picked:
        return _skip(manifest, "no benchmark was flagged", work, started, status="none")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return _skip(manifest, "valgrind is not installed (tools/setup.sh build installs it)", work, started, picked)
    missing = _missing(cfg)
    if missing:
        return _skip(manifest, missing, work, started, picked)
    try:
        builds = _profile_builds(cfg, len(picked))
    except BenchRunError as exc:
        return _skip(manifest, f"profiling build failed: {exc}", work, started, picked)
    entries, jobs = _entries(cfg, picked, builds.names)
    manifest["benchmarks"].extend(entries)
    _run_jobs(jobs, valgrind, builds.binaries, builds.roots, cfg.ops or DEFAULT_OPS, work)
    manifest["seconds"] = round(time.monotonic() - started, 1)
    _write(work / "manifest.json", manifest)
    return manifest


def _rows(verdict: Path, extra_verdicts: list[Path]) -> list[dict[str, Any]]:
    """The rows of the verdict and of the extra verdicts that exist (an absent one is skipped:
    its check did not run); BenchRunError naming the file for one that cannot be read."""
    rows = verdict_rows(verdict)
    for extra in extra_verdicts:
        if extra.exists():
            rows += verdict_rows(extra)
    return rows


def _missing(cfg: Config) -> str:
    """Why there can be no profile beside valgrind: no addr2line, no base; "" when none."""
    if shutil.which("addr2line") is None:
        return "addr2line (binutils) is not installed"
    if not cfg.base_ref and cfg.base_src is None:
        return "no base revision to compare with"
    if cfg.base_src is None:
        try:
            build.resolve(cfg.repo, cfg.base_ref or "")
        except BenchRunError as exc:
            return f"no base to compare with: {exc} (a shallow clone?)"
    return ""


@dataclass(frozen=True)
class _Builds:
    """The profiling state_instr of each side, its source root and the workloads it runs."""

    binaries: dict[str, Path]
    roots: dict[str, Path]
    names: dict[str, set[str]]


def _profile_builds(cfg: Config, count: int) -> _Builds:
    base_src = cfg.base_src or checkout_base(cfg.repo, cfg.base_ref or "", cfg.build_dir)
    log(f"profiling {count} flagged benchmark(s): building state_instr with -g (base and head)")
    binaries = {"head": profile_build(cfg.repo, cfg.build_dir / "profile"),
                "base": profile_build(base_src, cfg.build_dir / "base-profile")}
    roots = {"head": cfg.repo.resolve(), "base": base_src.resolve()}
    return _Builds(binaries, roots, {side: workloads(b) for side, b in binaries.items()})


def _entries(cfg: Config, picked: list[tuple[str, str]],
             names: dict[str, set[str]]) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """A manifest entry per picked benchmark, and the (entry, side) callgrind jobs of those
    within the budget that both builds can run."""
    entries: list[dict[str, Any]] = []
    jobs: list[tuple[dict[str, Any], str]] = []
    profiled = 0
    for name, status in picked:
        entry: dict[str, Any] = {"benchmark": name, "workload": name, "verdict_status": status}
        if name not in names["head"] or name not in names["base"]:
            entry.update(status="skipped", reason="state_instr has no workload of this name (it runs the "
                                                  "small-working-set operations; 10M keys, 100MB states, key-size "
                                                  "and Zipf variants are wall-time only)")
        elif profiled >= cfg.max_benchmarks:
            entry.update(status="skipped", reason=f"the budget is {cfg.max_benchmarks} profiles per run "
                                                  "(--max-benchmarks); these were flagged more weakly")
        else:
            profiled += 1
            entry["status"] = "profiled"
            jobs.extend((entry, side) for side in ("base", "head"))
        entries.append(entry)
    return entries, jobs


def _run_jobs(jobs: list[tuple[dict[str, Any], str]], valgrind: str, binaries: dict[str, Path],
              roots: dict[str, Path], ops: int | None, work: Path) -> None:
    """Runs the callgrind jobs, one per CPU at a time; a failing one marks its entry failed."""
    pending = list(jobs)
    running: list[tuple[subprocess.Popen[str], dict[str, Any], str, Path]] = []
    slots = max(1, len(os.sched_getaffinity(0)))
    while pending or running:
        while pending and len(running) < slots:
            entry, side = pending.pop(0)
            out = work / f"{re.sub(r'[^A-Za-z0-9]+', '_', entry['benchmark'])}.{side}.cg.out"
            running.append((_start(valgrind, binaries[side], entry["workload"], ops, out), entry, side, out))
        proc, entry, side, out = running.pop(0)
        try:
            dump, count = _finish(proc, out, entry["workload"])
        except BenchRunError as exc:
            entry.update(status="failed", reason=f"{side}: {exc}")
            continue
        if entry.get("ops", count) != count:
            entry.update(status="failed",
                         reason=f"base and head ran different operation counts ({entry['ops']}, {count})")
            continue
        entry["ops"] = count
        entry[side] = {"callgrind": str(dump), "binary": str(binaries[side]), "root": str(roots[side])}


def _skip(manifest: dict[str, Any], reason: str, work: Path, started: float,
          picked: list[tuple[str, str]] | None = None, status: str = "skipped") -> dict[str, Any]:
    manifest.update(status=status, reason=reason, seconds=round(time.monotonic() - started, 1))
    manifest["benchmarks"] = [{"benchmark": n, "verdict_status": s, "status": "skipped", "reason": reason}
                              for n, s in (picked or [])]
    _write(work / "manifest.json", manifest)
    return manifest


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def _python(args: list[str], quiet: bool = False) -> int:
    env = dict(os.environ, PYTHONPATH=str(TOOLS_DIR))
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run([sys.executable, *args], env=env, check=False, stdout=out).returncode


def explain(cfg: Config) -> str | None:
    """The whole post-verdict step: profile, diff into diff-profile.json, re-render the
    report with it. Returns its one-line outcome (None when nothing was flagged).
    Nothing raised here may reach the caller: the gate's exit code is already decided."""
    try:
        path = after_verdict(cfg)
        if path is None:
            return "differential profile: failed (see above); the verdict stands"
        doc = profile_view.load(path)
        return None if doc.get("status") == "none" else summary_line(doc)
    except Exception as exc:  # noqa: BLE001 - a profile must never turn a verdict into a crash
        return f"differential profile: failed ({type(exc).__name__}: {exc}); the verdict stands"


def after_verdict(cfg: Config) -> Path | None:
    """Profiles, writes REPORT_DIR/diff-profile.json and re-renders the report; its path
    (None when profdiff could not write it)."""
    manifest = run(cfg)
    profile_json = cfg.report_dir / "diff-profile.json"
    if _python(["-m", "perfgate.profdiff", "--manifest", str(cfg.report_dir / "diff-profile" / "manifest.json"),
                "--out", str(profile_json)]) != 0:
        log("the differential profile could not be computed (see the error above)")
        return None
    if manifest["status"] != "none":
        for args in ([cfg.check_args] if cfg.check_args else []) + cfg.extra_checks:
            code = _python(["-m", "perfgate", "check", *args, "--diff-profile", str(profile_json),
                            "--no-history"], quiet=True)
            if code == 2:
                log("re-rendering a report with the profile failed (bad input); the verdict stands")
    return profile_json


def summary_line(doc: dict[str, Any]) -> str:
    """One console line: the profile's outcome and its time."""
    took = f" ({doc['seconds']:.0f} s)" if isinstance(doc.get("seconds"), (int, float)) else ""
    if doc.get("status") != "ok":
        return f"differential profile {doc.get('status')}: {doc.get('reason')}{took}"
    parts = []
    for e in doc.get("benchmarks", []):
        parts.append(f"{e['benchmark']}: {e.get('headline') or e.get('status') + ': ' + e.get('reason', '')}")
    return f"differential profile{took}: " + "; ".join(parts)


def ab_check_args(report_dir: Path, gate_args: list[str]) -> list[str]:
    """The arguments of the A/B's final `perfgate check` (benchrun ab's files in REPORT_DIR/ab)."""
    work = report_dir / "ab"
    args = ["--baseline", str(work / "base.json"), "--results", str(work / "head.json"),
            "--report-dir", str(report_dir), "--mode", "ab"]
    first = work / "verdict-first-pass.json"
    if first.is_file():
        args += ["--confirm-from", str(first)]
    return args + [a for a in gate_args if a != "--quiet"]
