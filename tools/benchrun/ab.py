"""Same-run A/B: two builds measured in rounds on one machine, judged on paired rounds.

Contract: ``judge`` measures base and head in ``AbSettings.rounds`` rounds, merges each
side's rounds into one Google Benchmark JSON file (REPORT_DIR/ab/base.json, head.json),
runs ``perfgate check --mode ab`` on them and returns its exit code (0, 1 or 2; the
details are in REPORT_DIR/verdict.json). A run that cannot be carried out (a binary
that fails, a filter that matches nothing, an unknown schedule) raises BenchRunError.

Schedules:

``paired`` (the default): in each round, base and head run each benchmark at the same
time in two processes pinned to the same CPU, one pair per usable CPU at a time (a
10M-key or 100MB benchmark alone), base or head started first by turns. Each side is
timed by its own CPU time: ``real_time`` in the merged files holds Google Benchmark's
``cpu_time`` and the wall time of the shared run is kept as ``shared_real_time``, so
time blocked on the disk is not seen. Each side's benchmark files go to its own tmpfs
directory (SCRATCH_NOTE). A benchmark only one binary has runs alone on that side (the
gate sees it as new, or as missing from head).

``sequential``: each round runs the whole profile once per binary, ordered A B, B A, ...
(an ABBA design cancels a linear drift), timed by wall time.

Both sides of a round build their stores with the same hash seed
(``STATESTORE_BENCH_HASH_SEED``, benches/hash_seed.h), fixed per pass and round and
different across rounds, so a rerun measures the same layouts; a base built before the
variable existed ignores it. The peer benchmarks (PEER_PREFIX) are left out unless
``AbSettings.peers`` asks for them or a filter names only them.

Confirm-before-fail: the benchmarks the first pass flags (judged regressed, or slower by
more than half the threshold: perfgate.status.is_suspect) run again for
``confirm_rounds`` rounds; their new rounds are appended on both sides and the gate
judges all of them with ``--confirm-from`` the first verdict, marking each first-pass
regression confirmed or not reproduced.

Why these choices, with what was measured: README.md, "What to do when results are
noisy" and "The gate measured: false alarms and caught slowdowns".
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchrun import gate, gbjson
from benchrun.errors import BenchRunError
from benchrun.runner import BenchBinary, PinnedRun, RunSpec, list_names, run

# Rounds of the A/B. Six is the fewest for which the exact two-sided sign test on the
# paired rounds can reach p < 0.05 (all six one way: p = 2/2^6 = 0.031). The
# confirmation re-run adds CONFIRM_ROUNDS for flagged benchmarks only (a filtered
# run costs seconds, not a whole profile, so it can afford more).
DEFAULT_ROUNDS = 6
CONFIRM_ROUNDS = 10
# Google Benchmark --benchmark_min_time of each run (one repetition per round): the
# A/B draws its statistical power from the rounds.
DEFAULT_MIN_TIME = 0.05
SCHEDULES = ("paired", "sequential")
HASH_SEED_ENV = "STATESTORE_BENCH_HASH_SEED"
# Benchmarks whose fixtures take gigabytes (10M keys, 100MB states) run one pair at
# a time: several pairs would each pass state_bench's MemAvailable check at once
# and then run the machine out of memory together.
_LARGE = re.compile(r"10000000|/10M\b|100MB")


@dataclass(frozen=True)
class AbResult:
    base_file: Path
    head_file: Path


def log(msg: str) -> None:
    print(f"benchrun: {msg}", file=sys.stderr, flush=True)


# Characters special in a POSIX extended regex, the dialect Google Benchmark
# 1.7 compiles --benchmark_filter in. re.escape() is no use here: it also
# escapes '-', and "\-" is an invalid escape in that dialect.
_ERE_SPECIAL = re.compile(r"([.\[\]()*+?{}|^$\\])")


def filter_for(names: list[str]) -> str:
    """A --benchmark_filter regex (POSIX extended) that matches exactly these benchmark names."""
    return "^(" + "|".join(_ERE_SPECIAL.sub(r"\\\1", n) for n in sorted(names)) + ")$"


@dataclass(frozen=True)
class AbSettings:
    rounds: int = DEFAULT_ROUNDS
    confirm_rounds: int = CONFIRM_ROUNDS
    min_time: float | None = DEFAULT_MIN_TIME
    schedule: str = "paired"
    # CPUs the paired schedule may pin to; None: every CPU this process may use.
    cpus: tuple[int, ...] | None = None
    # Each side's benchmark files on tmpfs (SCRATCH_NOTE); False: the default TMPDIR.
    tmpfs_scratch: bool = True
    # Run the peer benchmarks (PEER_PREFIX) too. Off by default: they time the peer
    # libraries through benches/peers.*, the same code on both sides unless those
    # objects or the link line differ (pipeline.peers_changed), so in an A/B they can
    # only add false alarms and minutes.
    peers: bool = False


Sides = tuple[list[dict[str, Any]], list[dict[str, Any]]]

# Benchmarks of other implementations (absl, std, LMDB, RocksDB), not of the store.
PEER_PREFIX = "peer_"


def without_peers(base: BenchBinary, head: BenchBinary, spec: RunSpec) -> tuple[RunSpec, int]:
    """`spec` narrowed to the store's own benchmarks, and how many peer benchmarks it
    left out. A filter that selects only peer benchmarks is kept as it is: asked for
    by name, they run."""
    names = sorted(set(list_names(base, spec)) | set(list_names(head, spec)))
    ours = [n for n in names if not n.startswith(PEER_PREFIX)]
    if not ours or len(ours) == len(names):
        return spec, 0
    return RunSpec(spec.profile, filter_for(ours), spec.repetitions, spec.extra_args), len(names) - len(ours)


def round_seed(tag: str, round_index: int) -> dict[str, str]:
    """The environment of both sides of one round: its hash seed, fixed per (tag, round)
    so that a rerun of the A/B measures the same layouts, distinct across rounds."""
    return {HASH_SEED_ENV: str(zlib.crc32(f"{tag}/{round_index}".encode()) + 1)}


@dataclass(frozen=True)
class Pass:
    """One pass of rounds: what each round runs, how many rounds, where their files go and
    the tag that names those files and seeds the rounds ("ab" first, "confirm" after)."""

    spec: RunSpec
    rounds: int
    work_dir: Path
    tag: str


def interleave(base: BenchBinary, head: BenchBinary, plan: Pass) -> Sides:
    """The sequential schedule: `plan.rounds` ABBA-ordered rounds of whole runs; the per-round JSON of each side."""
    base_parts: list[dict[str, Any]] = []
    head_parts: list[dict[str, Any]] = []
    for round_index in range(plan.rounds):
        sides = [("base", base, base_parts), ("head", head, head_parts)]
        if round_index % 2 == 1:
            sides.reverse()
        for side, binary, parts in sides:
            log(f"{plan.tag} round {round_index + 1}/{plan.rounds}: {side} ({binary.label})")
            parts.append(run(binary, plan.spec, plan.work_dir / f"{plan.tag}-{side}-{round_index}.json", quiet=True,
                             env=round_seed(plan.tag, round_index)))
    return base_parts, head_parts


def _cpu_timed(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The iteration rows of a paired run, timed by their CPU time (see the module doc)."""
    rows = []
    for row in doc["benchmarks"]:
        if row.get("run_type") == "aggregate":
            continue
        row = dict(row)
        if "cpu_time" in row and "real_time" in row:
            row["shared_real_time"] = row["real_time"]
            row["real_time"] = row["cpu_time"]
        rows.append(row)
    return rows


def scratch_root(min_free_bytes: int = 1 << 30) -> Path | None:
    """A tmpfs directory for the benchmarks' scratch files (/dev/shm), or None when there is
    none with `min_free_bytes` free. On a disk file system the pair's file writes cost CPU
    time that lands on the wrong side (see SCRATCH_NOTE); on tmpfs there is no writeback."""
    shm = Path("/dev/shm")
    try:
        stat = os.statvfs(shm)
    except OSError:
        return None
    if not os.access(shm, os.W_OK) or stat.f_bavail * stat.f_frsize < min_free_bytes:
        return None
    with open("/proc/mounts", encoding="utf-8") as mounts:
        if not any(line.split()[1:3] == [str(shm), "tmpfs"] for line in mounts if len(line.split()) > 2):
            return None
    return shm


# Each side's benchmark files on tmpfs, in a directory of its own: on a disk file system the
# writeback one side's file writes start is charged to whichever process is on the shared CPU
# (README.md, "The default check, two builds"). The 10M-key and 100MB benchmarks keep the
# default TMPDIR: their files would take gigabytes of RAM.
SCRATCH_NOTE = "benchmarks' files on tmpfs, one directory per side (large ones: default TMPDIR)"


class Scratch:
    """One scratch directory per side for the A/B's benchmark files (TMPDIR of state_bench)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.dirs: dict[str, Path] = {}
        if root is not None:
            for side in ("base", "head"):
                self.dirs[side] = Path(tempfile.mkdtemp(prefix=f"statestore-ab-{side}-", dir=root))

    def env(self, side: str, name: str) -> dict[str, str]:
        if side not in self.dirs or _LARGE.search(name):
            return {}
        return {"TMPDIR": str(self.dirs[side])}

    def describe(self) -> str:
        return SCRATCH_NOTE.replace("tmpfs", f"tmpfs ({self.root})") if self.root else "default TMPDIR"

    def remove(self) -> None:
        for path in self.dirs.values():
            shutil.rmtree(path, ignore_errors=True)
        self.dirs.clear()


class _Pair:
    """Base and head running one benchmark at the same time on one CPU."""

    def __init__(self, name: str, runs: dict[str, PinnedRun]) -> None:
        self.name = name
        self.large = bool(_LARGE.search(name))
        self.runs = runs

    def done(self) -> bool:
        return all(r.done() for r in self.runs.values())

    def kill(self) -> None:
        for r in self.runs.values():
            r.kill()


@dataclass
class RoundRows:
    """What one paired round measured: each side's CPU-timed rows and its context."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"base": [], "head": []})
    context: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, side: str, doc: dict[str, Any]) -> None:
        self.context.setdefault(side, doc.get("context", {}))
        self.rows[side].extend(_cpu_timed(doc))


class PairScheduler:
    """Runs the benchmarks of one round as base/head pairs: one pair per usable CPU at a
    time, a large benchmark alone; which side starts first alternates with the round and
    the benchmark's position. A failing side stops every pair under way."""

    def __init__(self, base: BenchBinary, head: BenchBinary, spec: RunSpec, work_dir: Path,
                 cpus: list[int], scratch: Scratch) -> None:
        self.sides = {"base": base, "head": head}
        self.spec, self.work_dir, self.cpus, self.scratch = spec, work_dir, cpus, scratch

    def run_round(self, round_index: int, names: list[str], env: dict[str, str]) -> RoundRows:
        out = RoundRows()
        pending = list(enumerate(names))
        running: dict[int, _Pair] = {}
        try:
            while pending or running:
                self._start(round_index, env, pending, running)
                finished = [cpu for cpu, pair in running.items() if pair.done()]
                for cpu in finished:
                    pair = running.pop(cpu)
                    for side, pinned in pair.runs.items():
                        out.add(side, pinned.result())
                if not finished:
                    time.sleep(0.005)
        except BaseException:
            for pair in running.values():
                pair.kill()
            raise
        return out

    def _start(self, round_index: int, env: dict[str, str], pending: list[tuple[int, str]],
               running: dict[int, _Pair]) -> None:
        for cpu in self.cpus:
            if cpu in running or not pending or any(p.large for p in running.values()):
                continue
            if _LARGE.search(pending[0][1]) and running:
                return  # wait until every CPU is free, then run it alone
            index, name = pending.pop(0)
            running[cpu] = self._pair(name, cpu, (round_index + index) % 2 == 1, env)

    def _pair(self, name: str, cpu: int, head_first: bool, env: dict[str, str]) -> _Pair:
        """Starts both sides of `name` on `cpu`, `head_first` or base first."""
        one = RunSpec(self.spec.profile, filter_for([name]), 1, self.spec.extra_args)
        order = ["head", "base"] if head_first else ["base", "head"]
        return _Pair(name, {side: PinnedRun(self.sides[side], one, self.work_dir / f"pair-cpu{cpu}-{side}.json", cpu,
                                            {**env, **self.scratch.env(side, name)})
                            for side in order})


def paired_rounds(base: BenchBinary, head: BenchBinary, plan: Pass, cpus: tuple[int, ...] | None = None,
                  scratch: Scratch | None = None) -> Sides:
    """The paired schedule: per round, every benchmark in a base/head pair on one CPU
    (one pair per CPU at a time); the per-round JSON of each side, CPU-timed.

    A benchmark only one binary has runs alone on that side (so the gate sees it as
    new, or as missing from head)."""
    scratch = scratch or Scratch(None)
    spec, work_dir, tag = plan.spec, plan.work_dir, plan.tag
    base_names, head_names = list_names(base, spec), list_names(head, spec)
    if not base_names and not head_names:
        raise BenchRunError(f"no benchmark of profile '{spec.profile}' matches the filter {spec.filter_regex!r}")
    common = [n for n in head_names if n in set(base_names)]
    solo = [("head", head, [n for n in head_names if n not in set(base_names)]),
            ("base", base, [n for n in base_names if n not in set(head_names)])]
    usable = sorted(cpus or os.sched_getaffinity(0))
    scheduler = PairScheduler(base, head, spec, work_dir, usable, scratch)
    base_parts: list[dict[str, Any]] = []
    head_parts: list[dict[str, Any]] = []
    for round_index in range(plan.rounds):
        log(f"{tag} round {round_index + 1}/{plan.rounds}: {len(common)} benchmarks, base and head paired on "
            f"CPU {', '.join(map(str, usable))}")
        env = round_seed(tag, round_index)
        measured = scheduler.run_round(round_index, common, env)
        for side, binary, names in solo:
            if names:
                doc = run(binary, RunSpec(spec.profile, filter_for(names), 1, spec.extra_args),
                          work_dir / f"{tag}-{side}-solo-{round_index}.json", quiet=True,
                          env={**env, **scratch.env(side, "")})
                measured.add(side, doc)
        for side, parts in (("base", base_parts), ("head", head_parts)):
            ctx = dict(measured.context.get(side, {}))
            ctx["statestore_ab_schedule"] = "paired: base and head co-scheduled on one CPU, CPU time"
            ctx["statestore_ab_scratch"] = scratch.describe()
            part = {"context": ctx, "benchmarks": measured.rows[side]}
            gbjson.write(part, work_dir / f"{tag}-{side}-{round_index}.json")
            parts.append(part)
    for leftover in work_dir.glob("pair-cpu*.json"):
        leftover.unlink()
    return base_parts, head_parts


@dataclass(frozen=True)
class _Judgement:
    """One A/B under way: the two builds, its settings, where the gate writes (`report_dir`)
    and the A/B's own files go (`work`), and each side's scratch directory."""

    base: BenchBinary
    head: BenchBinary
    settings: AbSettings
    report_dir: Path
    gate_args: list[str]
    work: Path
    scratch: Scratch

    def rounds(self, spec: RunSpec, count: int, tag: str) -> Sides:
        plan = Pass(spec, count, self.work, tag)
        if self.settings.schedule == "sequential":
            return interleave(self.base, self.head, plan)
        return paired_rounds(self.base, self.head, plan, self.settings.cpus, self.scratch)

    def check(self, sides: Sides, *first_pass: str) -> int:
        merged = write_sides(*sides, self.work)
        return gate.check(merged.base_file, merged.head_file, self.report_dir,
                          ["--mode", "ab", *first_pass, *self.gate_args])

    def run(self, spec: RunSpec) -> int:
        """The first pass, then, for whatever it flagged, a confirmation pass judged on all the rounds."""
        base_parts, head_parts = self.rounds(spec, self.settings.rounds, "ab")
        code = self.check((base_parts, head_parts))
        if code == 2 or self.settings.confirm_rounds <= 0:
            return code
        flagged = gate.suspect_benchmarks(self.report_dir)
        if not flagged:
            return code
        log(f"confirming {len(flagged)} regressed or undecided benchmark(s): {', '.join(flagged)}")
        first_verdict = self.work / "verdict-first-pass.json"
        shutil.copyfile(self.report_dir / "verdict.json", first_verdict)
        confirm_spec = RunSpec(spec.profile, filter_for(flagged), 1, spec.extra_args)
        more_base, more_head = self.rounds(confirm_spec, self.settings.confirm_rounds, "confirm")
        return self.check((base_parts + more_base, head_parts + more_head), "--confirm-from", str(first_verdict))


def judge(base: BenchBinary, head: BenchBinary, spec: RunSpec, settings: AbSettings, report_dir: Path,
          gate_args: list[str]) -> int:
    """The whole same-run A/B: the rounds, the gate, and a confirmation pass for
    whatever the first judgement flagged. Returns the gate's exit code
    (verdict.json in `report_dir` holds the details)."""
    if settings.schedule not in SCHEDULES:
        raise BenchRunError(f"unknown A/B schedule '{settings.schedule}' (expected {' or '.join(SCHEDULES)})")
    work = report_dir / "ab"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    extra = list(spec.extra_args)
    if settings.min_time is not None:
        extra.append(f"--benchmark_min_time={settings.min_time:g}")
    spec = RunSpec(spec.profile, spec.filter_regex, 1, extra)
    if not settings.peers:
        spec, left_out = without_peers(base, head, spec)
        if left_out:
            log(f"{left_out} peer benchmarks not re-run: the same library code on both sides")
    scratch = Scratch(scratch_root() if settings.tmpfs_scratch else None)
    try:
        return _Judgement(base, head, settings, report_dir, gate_args, work, scratch).run(spec)
    finally:
        scratch.remove()


def write_sides(base_parts: list[dict[str, Any]], head_parts: list[dict[str, Any]],
                work_dir: Path) -> AbResult:
    result = AbResult(work_dir / "base.json", work_dir / "head.json")
    gbjson.write(gbjson.merge(base_parts), result.base_file)
    gbjson.write(gbjson.merge(head_parts), result.head_file)
    return result
