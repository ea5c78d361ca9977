"""Sharding a profile across runners: the shard plan, and merging the shards' results into one.

    perfgate shards --profile full --count N [--durations RESULTS.json] [--history H.sqlite]
                    [--out plan.json] [--print-filter I]
    perfgate shards --plan plan.json --print-filter I
    perfgate merge  --plan plan.json --out results.json SHARD_RESULTS.json...

The plan is deterministic: the benchmarks of the profile (those of the durations
file, by default the committed ``baselines/<profile>.json``, a measured run of the
whole profile) are dealt longest first to the shard with the least measured time
so far (ties: the lower shard number; equal durations: name order), so the same
inputs always give the same plan and the shards finish close together. The
duration of a benchmark is the time Google Benchmark measured for it: the sum
over its repetitions of iterations x time per iteration (the fixture setup
outside the timed loop is not in the file, so a shard of heavy fixtures runs longer
than planned; README.md, "Shards", has the measured share). With ``--history``,
the durations the history recorded for the profile's newest runs (the median of
the last 5, measured on the runners that will run the shards) take the place of
the file's; a benchmark the history has no time for gets the file's, scaled by
the median ratio of the two over the benchmarks both have. Each shard runs
``state_bench --benchmark_filter=<its filter>``; CI makes the plan once and
gives every shard the same file (``--plan``), since the history can move
between the shards' starts.

`merge` reads the shard files through perfgate.results (validated as any results
file), checks them against the plan and writes one Google Benchmark JSON that
`perfgate check` judges, renders and records as one run:
every shard of the plan must be there (a missing shard is an error naming it and
its benchmarks), no benchmark may come from two shards (an error naming both
files), a file's benchmarks must all belong to one shard of the plan, and the
shards must come from one build (commit, build type, compiler, flags, profile).
The merged context is the first shard's, with ``statestore_shards`` (the count)
and ``statestore_shard_machines`` (each shard's machine) added; the machine
fingerprint of the merged run is the first shard's.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfgate import history, results
from perfgate.errors import PerfGateError
from perfgate.fileio import write_atomic

PLAN_FORMAT_VERSION = 1
UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# Context keys that must agree between the shards of one merged run.
SAME_BUILD = ("statestore_git_commit", "statestore_build_type", "statestore_compiler", "statestore_cxx_flags",
              "statestore_profile", "statestore_slowdown")
# POSIX extended regex specials: the dialect of --benchmark_filter (re.escape's "\-" is invalid there).
_ERE_SPECIAL = re.compile(r"([.\[\]()*+?{}|^$\\])")


@dataclass(frozen=True)
class Shard:
    index: int                 # 1-based
    benchmarks: tuple[str, ...]
    seconds: float

    @property
    def filter(self) -> str:
        return "^(" + "|".join(_ERE_SPECIAL.sub(r"\\\1", n) for n in sorted(self.benchmarks)) + ")$"


def _read_json(path: Path, what: str) -> Any:
    """The shard plan's JSON (merge.py owns that format; results files go through perfgate.results)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerfGateError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PerfGateError(f"{what} {path} cannot be read: {exc}") from None
    except ValueError as exc:
        raise PerfGateError(f"{what} {path} is not valid JSON ({exc})") from None


def _name(row: dict) -> str:
    return str(row.get("run_name") or row.get("name") or "")


def durations(path: Path | str) -> dict[str, float]:
    """Measured seconds per benchmark of a results (or baseline) file, in file order."""
    path = Path(path)
    out: dict[str, float] = {}
    for row in results.read_document(path, "durations")["benchmarks"]:
        name = _name(row)
        out.setdefault(name, 0.0)
        if row.get("run_type", "iteration") == "iteration" and not row.get("error_occurred"):
            try:
                out[name] += float(row.get("iterations", 0)) * float(row.get("real_time", 0)) * \
                    UNIT_SECONDS[row.get("time_unit", "ns")]
            except (KeyError, TypeError, ValueError):
                raise PerfGateError(f"durations file {path}: benchmark {name!r} has no usable iterations, "
                                    "real_time and time_unit") from None
    return out


def with_history(times: dict[str, float], measured: dict[str, float]) -> tuple[dict[str, float], int]:
    """`times` (the durations file's benchmarks) with the history's `measured` seconds where it
    has them, the others scaled by the median ratio measured / file over the benchmarks both
    have; and how many came from the history."""
    common = [b for b in times if b in measured and times[b] > 0]
    if not common:
        return dict(times), 0
    scale = statistics.median(measured[b] / times[b] for b in common)
    return {b: measured[b] if b in measured else t * scale for b, t in times.items()}, \
        sum(1 for b in times if b in measured)


def plan(times: dict[str, float], count: int) -> list[Shard]:
    """Longest first to the least loaded shard: deterministic and balanced."""
    if count < 1:
        raise PerfGateError(f"shards: --count must be >= 1, not {count}")
    if count > len(times):
        raise PerfGateError(f"shards: --count {count} is more than the {len(times)} benchmarks to share")
    loads = [0.0] * count
    members: list[list[str]] = [[] for _ in range(count)]
    for name, secs in sorted(times.items(), key=lambda kv: (-kv[1], kv[0])):
        k = min(range(count), key=lambda i: (loads[i], i))
        loads[k] += secs
        members[k].append(name)
    return [Shard(i + 1, tuple(sorted(m)), loads[i]) for i, m in enumerate(members)]


def plan_json(shards: list[Shard], profile: str, source: str) -> str:
    return json.dumps({"format_version": PLAN_FORMAT_VERSION, "profile": profile, "count": len(shards),
                       "durations_from": source,
                       "shards": [{"index": s.index, "seconds": round(s.seconds, 3), "filter": s.filter,
                                   "benchmarks": list(s.benchmarks)} for s in shards]}, indent=1) + "\n"


def read_plan(path: Path | str) -> tuple[str, list[Shard]]:
    path = Path(path)
    doc = _read_json(path, "shard plan")
    try:
        if doc["format_version"] != PLAN_FORMAT_VERSION:
            raise PerfGateError(f"shard plan {path} has format_version {doc['format_version']}; "
                                f"this perfgate reads {PLAN_FORMAT_VERSION}")
        shards = [Shard(int(s["index"]), tuple(str(b) for b in s["benchmarks"]), float(s["seconds"]))
                  for s in doc["shards"]]
        profile = str(doc["profile"])
    except (KeyError, TypeError, ValueError):
        raise PerfGateError(f"shard plan {path} is not a perfgate shard plan (want format_version, profile, "
                            "shards[index, benchmarks, seconds])") from None
    if [s.index for s in shards] != list(range(1, len(shards) + 1)) or not shards:
        raise PerfGateError(f"shard plan {path}: shards must be numbered 1..N")
    return profile, shards


def _describe(shard: Shard) -> str:
    names = ", ".join(shard.benchmarks[:3])
    more = f" and {len(shard.benchmarks) - 3} more" if len(shard.benchmarks) > 3 else ""
    return f"shard {shard.index} ({names}{more})"


def merge(files: list[Path], shards: list[Shard], profile: str) -> dict[str, Any]:
    """One Google Benchmark document from the shard files (see the module doc for the checks)."""
    owner = {b: s for s in shards for b in s.benchmarks}
    seen: dict[str, Path] = {}
    found: dict[int, Path] = {}
    docs = []
    for path in files:
        doc = results.read_document(path, "shard results")
        rows = doc["benchmarks"]
        names = list(dict.fromkeys(_name(r) for r in rows))
        for name in names:
            if name in seen:
                raise PerfGateError(f"benchmark {name!r} is in two shard results files: {seen[name]} and {path}")
            seen[name] = path
        stray = [n for n in names if n not in owner]
        if stray:
            raise PerfGateError(f"shard results file {path}: benchmark {stray[0]!r} is in no shard of the plan")
        homes = {owner[n].index for n in names}
        if len(homes) > 1:
            raise PerfGateError(f"shard results file {path} mixes benchmarks of shards "
                                f"{', '.join(map(str, sorted(homes)))} of the plan")
        (home,) = homes
        if home in found:
            raise PerfGateError(f"shard {home} has two results files: {found[home]} and {path}")
        found[home] = path
        docs.append((path, doc, rows))
    missing = [s for s in shards if s.index not in found]
    if missing:
        raise PerfGateError(f"{_describe(missing[0])} of {len(shards)} has no results file"
                            + (f" (nor {', '.join(f'shard {s.index}' for s in missing[1:])})" if missing[1:] else ""))
    docs.sort(key=lambda d: owner[_name(d[2][0])].index)
    first_path, first, _ = docs[0]
    ctx0 = first.get("context") or {}
    for path, doc, _ in docs[1:]:
        ctx = doc.get("context") or {}
        for key in SAME_BUILD:
            if ctx.get(key) != ctx0.get(key):
                raise PerfGateError(f"shard results file {path} comes from another build than {first_path}: "
                                    f"{key} is {ctx.get(key)!r}, not {ctx0.get(key)!r}")
    if ctx0.get("statestore_profile", profile) != profile:
        raise PerfGateError(f"shard results file {first_path} is profile {ctx0.get('statestore_profile')!r}; "
                            f"the plan is for {profile!r}")
    context = dict(ctx0)
    context["statestore_shards"] = str(len(shards))
    context["statestore_shard_machines"] = " ; ".join(
        str((d.get("context") or {}).get("statestore_machine", "?")) for _, d, _ in docs)
    return {"context": context, "benchmarks": [row for _, _, rows in docs for row in rows]}


# --------------------------------------------------------------------------- command line

def add_arguments(shards_parser, merge_parser) -> None:
    shards_parser.add_argument("--profile", default=None, help="the profile to deal (required without --plan)")
    shards_parser.add_argument("--count", type=int, default=None, help="number of shards (runners)")
    shards_parser.add_argument("--durations", type=Path, default=None,
                               help="results file with the measured durations (default: baselines/<profile>.json)")
    shards_parser.add_argument("--history", type=Path, default=None,
                               help="prefer the durations this run history recorded for the profile's newest runs")
    shards_parser.add_argument("--plan", type=Path, default=None, help="a plan made before (with --print-filter)")
    shards_parser.add_argument("--out", type=Path, default=None, help="write the plan (JSON) here")
    shards_parser.add_argument("--print-filter", type=int, default=None, metavar="I",
                               help="print shard I's --benchmark_filter and nothing else")
    merge_parser.add_argument("--plan", type=Path, required=True)
    merge_parser.add_argument("--out", type=Path, required=True, help="the merged results file")
    merge_parser.add_argument("files", type=Path, nargs="+", metavar="SHARD_RESULTS.json")


def _planned(args, baselines: Path) -> tuple[list[Shard], str]:
    """The shards of `perfgate shards` and where their durations came from."""
    if args.profile is None or args.count is None:
        raise PerfGateError("shards: --profile and --count are required (or --plan with --print-filter)")
    source = args.durations or baselines / f"{args.profile}.json"
    times = durations(source)
    origin = str(source)
    if args.history is not None:
        measured, runs = history.durations(args.history, args.profile)
        times, used = with_history(times, measured)
        if used:
            origin = (f"history {args.history} (median of the newest {runs} {args.profile} runs) for {used} of "
                      f"{len(times)} benchmarks, the rest {source} scaled")
        print(f"perfgate: durations from {origin if used else f'{source} (the history has none of them)'}",
              file=sys.stderr)
    return plan(times, args.count), origin


def command_shards(args, baselines: Path) -> int:
    if args.plan is not None:
        if args.print_filter is None or args.out or args.history or args.durations:
            raise PerfGateError("shards: --plan takes only --print-filter (the plan is made already)")
        _, shards = read_plan(args.plan)
    else:
        shards, origin = _planned(args, baselines)
    if args.print_filter is not None:
        if not 1 <= args.print_filter <= len(shards):
            raise PerfGateError(f"shards: --print-filter must be 1..{len(shards)}, not {args.print_filter}")
        print(shards[args.print_filter - 1].filter)
        return 0
    if args.out:
        write_atomic(args.out, plan_json(shards, args.profile, origin))
    for s in shards:
        print(f"perfgate: shard {s.index}/{len(shards)}: {len(s.benchmarks)} benchmarks, {s.seconds:.1f} s measured")
    return 0


def command_merge(args) -> int:
    profile, shards = read_plan(args.plan)
    doc = merge(args.files, shards, profile)
    write_atomic(args.out, json.dumps(doc, indent=1) + "\n")
    names = len({_name(r) for r in doc["benchmarks"]})
    print(f"perfgate: merged {len(args.files)} shards ({names} benchmarks) into {args.out}")
    return 0
