"""benchrun instr: callgrind dumps of state_instr -> instructions per operation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchrun import instr
from benchrun.errors import BenchRunError

DUMPS = Path(__file__).parent / "inputs" / "callgrind"
REPO = Path(__file__).resolve().parent.parent.parent


def test_a_dump_yields_its_workload_and_its_totals():
    text = (DUMPS / "get_inmemory.cg.out").read_text()
    assert instr.parse_dump(text) == ("state_get_inmemory/1000", 1786316)


def test_a_later_dump_is_read_from_totals_not_from_its_wrapped_summary():
    # Real valgrind 3.19 output: the second dump's `summary:` line is a
    # difference (157960), its `totals:` line the dump's own count.
    text = (DUMPS / "get_mmap_second_dump.cg.out").read_text()
    assert "summary: 157960" in text
    assert instr.parse_dump(text) == ("state_get_mmap/1000", 1944276)


def test_the_dump_at_program_exit_is_ignored():
    text = (DUMPS / "program_termination.cg.out").read_text()
    assert "Trigger: Program termination" in text
    assert instr.parse_dump(text) is None


def test_a_dump_without_totals_is_an_error_naming_the_workload():
    text = (DUMPS / "get_inmemory.cg.out").read_text()
    broken = "\n".join(line for line in text.splitlines() if not line.startswith("totals:"))
    with pytest.raises(BenchRunError, match="state_get_inmemory/1000 has no totals line"):
        instr.parse_dump(broken)


def test_a_missing_binary_is_named(tmp_path):
    with pytest.raises(BenchRunError, match=r"state_instr not found: .*nope \(build it first\)"):
        instr.measure(tmp_path / "nope")


def _state_instr() -> Path | None:
    env = os.environ.get("STATE_INSTR")
    path = Path(env) if env else REPO / "build" / "release" / "benches" / "state_instr"
    return path if path.is_file() and shutil.which("valgrind") else None


@pytest.mark.skipif(_state_instr() is None, reason="state_instr or valgrind not available")
def test_the_real_program_counts_plausible_and_repeatable_instructions():
    binary = _state_instr()
    assert binary is not None
    workloads = "^state_(get|put)_(inmemory|mmap)/1000$"
    first = instr.measure(binary, 2000, workloads)
    second = instr.measure(binary, 2000, workloads)
    per_op = {row["name"]: row["instructions_per_op"] for row in first["benchmarks"]}
    assert set(per_op) == {"state_get_inmemory/1000", "state_put_inmemory/1000",
                           "state_get_mmap/1000", "state_put_mmap/1000"}
    # A hashed point operation is tens to hundreds of instructions: a count of
    # zero or one that wrapped around 2^64 means the dumps were misread.
    for name, count in per_op.items():
        assert 10 < count < 5000, (name, count)
    # Fixed hash seeds and a fixed operation count: identical run after run.
    assert per_op == {row["name"]: row["instructions_per_op"] for row in second["benchmarks"]}
    assert first["context"]["statestore_metric"] == "instructions"
    assert first["context"]["statestore_build_type"] == "Release"
