"""perfgate.callgrind: callgrind's output format -> per-function, per-line, per-instruction costs."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from perfgate import callgrind
from perfgate.errors import PerfGateError

PROFILES = Path(__file__).parent / "inputs" / "profile"
BASE = PROFILES / "get_inmemory_1000.base.cg.out"
HEADER = "/work/wt/why11/core/include/statestore/inmemory_state_store.h"
INVOKE = re.compile(r"^std::_Function_handler<void \(\), .*::_M_invoke\(std::_Any_data const&\)$")


def _fn(prof: callgrind.Profile, pattern: re.Pattern[str]) -> str:
    (name,) = [n for n in prof.fn_self if pattern.match(n)]
    return name


def test_a_real_dump_gives_its_events_trigger_and_totals():
    prof = callgrind.read(BASE)
    assert prof.events == ["Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw"]
    assert prof.positions == ["instr", "line"]
    assert prof.trigger == "Client Request: state_get_inmemory/1000"
    assert prof.totals == (1786307, 611481, 180002, 2, 28460, 1, 2, 0, 1)


def test_self_costs_per_function_add_up_to_the_totals_line():
    prof = callgrind.read(BASE)
    assert len(prof.fn_self) == 2
    invoke = _fn(prof, INVOKE)
    assert prof.fn_self[invoke] == (1606300, 551480, 160000, 0, 28460, 0, 0, 0, 0)
    assert sum(c[0] for c in prof.fn_self.values()) == 1786307


def test_inlined_header_code_is_counted_at_its_own_file_and_line():
    prof = callgrind.read(BASE)
    # HashBytes' `return Mum(...)`, inlined into get(), inlined into the workload's lambda.
    assert prof.line_self[(HEADER, 130)] == (120000, 60000, 0, 0, 0, 0, 0, 0, 0)
    assert prof.fn_file[_fn(prof, INVOKE)] == "/usr/include/c++/12/bits/std_function.h"


def test_a_call_arc_has_its_count_call_site_and_inclusive_cost():
    prof = callgrind.read(BASE)
    (call,) = prof.calls
    assert call.caller.startswith("statestore::bench::(anonymous namespace)::Measure(")
    assert INVOKE.match(call.callee)
    assert (call.count, call.site_addr, call.site_line) == (20000, 0xCF2E, 591)
    assert call.cost[0] == 1606300
    inclusive = prof.inclusive()
    assert inclusive[call.caller][0] == 1786307 and inclusive[call.callee][0] == 1606300


def test_per_instruction_costs_carry_their_file_and_line():
    prof = callgrind.read(BASE)
    invoke = _fn(prof, INVOKE)
    assert prof.instr_self[(invoke, 0xE4F0)][:2] == ("/usr/include/c++/12/bits/std_function.h", 288)
    assert sum(c[0] for (fn, _a), (_f, _l, c) in prof.instr_self.items() if fn == invoke) == 1606300


@pytest.mark.skipif(shutil.which("callgrind_annotate") is None, reason="valgrind's callgrind_annotate not installed")
def test_per_file_costs_agree_with_valgrinds_own_callgrind_annotate():
    done = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", str(BASE)],
                          capture_output=True, text=True, check=True)
    theirs: dict[str, int] = {}
    for line in done.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\).*?\s([^\s:]+):(.+)$", line)
        if m and "PROGRAM TOTALS" not in line:
            file = m.group(2).removeprefix("/work/wt/why11/")  # it strips the directory it runs in
            theirs[file] = theirs.get(file, 0) + int(m.group(1).replace(",", ""))
    ours: dict[str, int] = {}
    for (file, _line), cost in callgrind.read(BASE).line_self.items():
        key = file.removeprefix("/work/wt/why11/")
        ours[key] = ours.get(key, 0) + cost[0]
    assert theirs and theirs == ours


SYNTHETIC = """# callgrind format
version: 1
positions: instr line
events: Ir D1mr
ob=(1) /bin/prog
fl=(1) /src/main.cc
fn=(1) main
0x100 10 5 1
+4 +2 3
cob=(2) /lib/libc.so
cfi=(2) /src/lib.c
cfn=(2) helper
calls=2 0x900 40
* * 50 4
-2 -1 7
fi=(3) /src/inl.h
+6 100 1
fe=(1)
fl=(2)
fn=(2)
0x900 40 50 4
fl=(1)
fn=(3) lonely
0x200 1 9
jump=3 +4 *
jcnd=1/3 +8 *
cfn=(2)
calls=1 0x900 40
* * 0
totals: 75 5
"""


def test_the_synthetic_dump_follows_the_format_rules():
    prof = callgrind.parse(SYNTHETIC, "synthetic")
    # relative positions: 0x104 at line 12; after the call line (0x104, 12), "-2 -1" is 0x102, line 11
    assert prof.instr_self[("main", 0x104)] == ("/src/main.cc", 12, (3, 0))
    assert prof.instr_self[("main", 0x102)] == ("/src/main.cc", 11, (7, 0))
    # fi= moves the file of the next cost lines; fe= back; fn's own file stays
    assert prof.line_self[("/src/inl.h", 100)] == (1, 0)
    assert prof.fn_file == {"main": "/src/main.cc", "helper": "/src/lib.c", "lonely": "/src/main.cc"}
    # missing trailing counts are zero
    assert prof.fn_self["main"] == (16, 1) and prof.fn_self["lonely"] == (9, 0)
    # the call from `lonely` reuses the compressed callee; cob/cfi applied to the first call only
    assert [(c.caller, c.callee, c.count, c.cost) for c in prof.calls] == [
        ("main", "helper", 2, (50, 4)), ("lonely", "helper", 1, (0, 0))]
    assert prof.inclusive()["main"] == (66, 5)
    assert prof.totals == (75, 5)


@pytest.mark.parametrize("mutation, message", [
    (lambda t: t.replace("events: Ir D1mr\n", ""), r"synthetic:\d+: no events: line before the first cost line"),
    (lambda t: t.replace("fn=(2)\n0x900", "fn=(7)\n0x900"), r"synthetic:\d+: fn=\(7\) refers to a name never defined"),
    (lambda t: t.replace("+4 +2 3", "+4 +x 3"), r"synthetic:\d+: bad line position '\+x'"),
    (lambda t: t.replace("0x200 1 9", "0x200 1 9 1 1"), r"synthetic:\d+: 3 counts for 2 events"),
    # a lost call-cost line makes the next self-cost line the call's: the totals catch it
    (lambda t: t.replace("* * 50 4\n", ""),
     r"callgrind file synthetic: the self costs add up to \[68, 5\], but its totals line says \[75, 5\]"),
    (lambda t: t.replace("totals: 75 5", "totals: 76 5"),
     r"callgrind file synthetic: the self costs add up to \[75, 5\], but its totals line says \[76, 5\]"),
    (lambda t: t + "garbage here\n", r"synthetic:\d+: not a callgrind line: 'garbage here'"),
    (lambda t: t.replace("positions: instr line", "positions: instr bb"), r"unsupported positions 'instr bb'"),
    (lambda t: t + "calls=1 0x900 40\n", r"synthetic:\d+: calls= line without the cost line"),
])
def test_a_broken_dump_is_an_error_naming_the_file_and_line(mutation, message):
    with pytest.raises(PerfGateError, match=message):
        callgrind.parse(mutation(SYNTHETIC), "synthetic")


def test_a_file_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(PerfGateError, match=r"cannot read callgrind file .*nope\.out"):
        callgrind.read(tmp_path / "nope.out")


def test_addr2line_output_gives_each_address_its_inline_chain_outermost_first():
    text = gzip.decompress((PROFILES / "get_inmemory_1000.base.addr2line.gz").read_bytes()).decode()
    prof = callgrind.read(BASE)
    addrs = sorted({a for (_fn, a) in prof.instr_self} | {c.site_addr for c in prof.calls if c.site_addr})
    chains = callgrind.parse_addr2line(text, addrs)
    # the instruction at line 130: _M_invoke -> ... -> get -> Find -> Hash -> HashBytes
    (addr,) = [a for (_fn, a), (f, line, _c) in prof.instr_self.items() if f == HEADER and line == 130][:1]
    names = [f.function for f in chains[addr]]
    assert INVOKE.match(names[0])
    assert names[-1].startswith("statestore::inmemory_internal::HashBytes(")
    assert (chains[addr][-1].file, chains[addr][-1].line) == (HEADER, 130)
    assert any(n.startswith("statestore::InMemoryStateStore::get(") for n in names)


def test_addr2line_output_missing_an_address_is_an_error():
    with pytest.raises(PerfGateError, match=r"addr2line gave no answer for 1 address\(es\), e.g. 0x10"):
        callgrind.parse_addr2line("0x0000000000000008\nmain\n/src/a.c:3\n", [0x8, 0x10])
