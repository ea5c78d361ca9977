"""Instruction counts per operation, from state_instr under valgrind's callgrind.

state_instr brackets each workload's N operations with callgrind client
requests and dumps one profile per workload (see benches/state_instr.cc). This
module runs it, reads the dumps and writes a Google-Benchmark-shaped JSON file
the gate reads like any other results file: one iteration row per workload
with the counter `instructions_per_op` (and real_time/cpu_time holding the
same number, time_unit "ns", so generic tools still show something), and
context `statestore_metric: instructions`.

Counts are deterministic for one binary, so one repetition is enough; the
gate compares them exactly against its tighter instructions threshold.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchrun.errors import BenchRunError

DEFAULT_OPS = 20_000
_DESC = re.compile(r"^desc: Trigger: Client Request: (?P<name>.+)$", re.MULTILINE)
# A dump's own count is its `totals:` line. Its `summary:` line is not: for
# the second and later dumps of a run, valgrind 3.19 writes a difference that
# can wrap below zero (seen: 18446744073707607340), so it is never read.
_TOTALS = re.compile(r"^totals: (?P<ir>\d+)$", re.MULTILINE)
_OPS = re.compile(r"^(?P<name>\S+) ops=(?P<ops>\d+)$", re.MULTILINE)


def parse_dump(text: str) -> tuple[str, int] | None:
    """(workload name, instructions) of one callgrind dump, or None for a dump
    that a client request did not trigger (e.g. the final dump at exit)."""
    desc = _DESC.search(text)
    totals = _TOTALS.search(text)
    if desc is None:
        return None
    if totals is None:
        raise BenchRunError(f"callgrind dump for {desc.group('name')} has no totals line")
    return desc.group("name").strip(), int(totals.group("ir"))


def context_of(binary: Path) -> dict[str, str]:
    """The build context state_instr reports (key=value lines)."""
    done = subprocess.run([str(binary), "--context"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchRunError(f"{binary} --context exited with {done.returncode}: {done.stderr.strip()}")
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def measure(binary: Path, ops: int = DEFAULT_OPS, filter_regex: str = ".") -> dict[str, Any]:
    """Runs state_instr under callgrind; returns results as Google Benchmark JSON."""
    if not binary.is_file():
        raise BenchRunError(f"state_instr not found: {binary} (build it first)")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise BenchRunError("valgrind is not installed (tools/setup.sh test installs it)")
    with tempfile.TemporaryDirectory(prefix="state_instr.") as tmp:
        out_pattern = Path(tmp) / "cg.out.%p"
        cmd = [valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
               f"--callgrind-out-file={out_pattern}", str(binary), f"--ops={ops}", f"--filter={filter_regex}"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = " / ".join(done.stderr.strip().splitlines()[-3:])
            raise BenchRunError(f"state_instr under callgrind exited with {done.returncode}: {tail}")
        ops_by_name = {m.group("name"): int(m.group("ops")) for m in _OPS.finditer(done.stdout)}
        counts: dict[str, int] = {}
        for dump in sorted(Path(tmp).glob("cg.out.*")):
            parsed = parse_dump(dump.read_text(errors="replace"))
            if parsed is not None:
                counts[parsed[0]] = parsed[1]
    missing = sorted(set(ops_by_name) - set(counts))
    if missing:
        raise BenchRunError(f"callgrind wrote no profile for: {', '.join(missing)}")
    context = context_of(binary)
    context["statestore_metric"] = "instructions"
    rows = []
    for name, ir in counts.items():
        per_op = ir / ops_by_name[name]
        rows.append({"name": name, "run_name": name, "run_type": "iteration", "repetitions": 1,
                     "repetition_index": 0, "threads": 1, "iterations": ops_by_name[name],
                     "real_time": per_op, "cpu_time": per_op, "time_unit": "ns",
                     "instructions_per_op": per_op, "instructions_total": ir})
    return {"context": context, "benchmarks": rows}
