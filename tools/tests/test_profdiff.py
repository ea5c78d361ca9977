"""perfgate.profdiff: two callgrind dumps of one workload -> functions, lines and frames that changed.

The fixtures are real: state_get_inmemory/1000 under callgrind (--dump-instr=yes --cache-sim=yes,
20,000 operations) from a -g Release build of main (base) and of the same tree with one multiply
added to the short-key hash, on a line of its own above `return Mum(...)` (head; see inputs/README.md).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from perfgate import callgrind, profdiff
from perfgate.errors import PerfGateError

PROFILES = Path(__file__).parent / "inputs" / "profile"
ROOTS = {"base": Path("/work/wt/why11"), "head": Path("/tmp/why11/hashmul")}
HEADER = "core/include/statestore/inmemory_state_store.h"
OPS = 20_000


def _side(side: str) -> profdiff.Side:
    prof = callgrind.read(PROFILES / f"get_inmemory_1000.{side}.cg.out")
    text = gzip.decompress((PROFILES / f"get_inmemory_1000.{side}.addr2line.gz").read_bytes()).decode()
    addrs = sorted({a for (_fn, a) in prof.instr_self} | {c.site_addr for c in prof.calls if c.site_addr})
    return profdiff.side_view(prof, callgrind.parse_addr2line(text, addrs), ROOTS[side], OPS)


def _sources() -> profdiff.Sources:
    return profdiff.Sources(PROFILES / "src-base", PROFILES / "src-head")


@pytest.fixture(scope="module")
def hash_change() -> dict:
    return profdiff.diff(_side("base"), _side("head"), _sources())


def test_the_added_multiply_is_the_top_contributor_with_its_line_text_and_function(hash_change):
    top = hash_change["top"]
    assert (top["file"], top["line"], top["side"]) == (HEADER, 130, "head")
    assert top["text"] == "b *= 0x9E3779B97F4A7C15ull;"
    assert top["function"] == "inmemory_internal::HashBytes"
    assert top["ir_delta"] == pytest.approx(2.0)
    assert top["text_summary"].startswith(f"+2.0 instr/op, +0.13 D1 misses/op in {HEADER}:130, inmemory_internal::HashBytes")


def test_a_line_pushed_down_by_the_insertion_is_compared_with_itself(hash_change):
    # base 130 `return Mum(...)` is head 131: same 6 instructions per op, not "-6 here, +6 there"
    rows = {(r["file"], r["line"]): r for r in hash_change["lines"]}
    by_text = [r for r in rows.values() if r["text"] == "return Mum(a ^ seed, b ^ secret.mix ^ n);"]
    assert all(r["line"] == 131 and r["side"] == "head" for r in by_text)
    everything = profdiff.diff(_side("base"), _side("head"), _sources())
    assert not [r for r in everything["lines"] if r["side"] == "base" and r["file"] == HEADER and r["line"] == 130]


def test_totals_per_operation_are_base_and_head_of_the_same_operation_count(hash_change):
    t = hash_change["totals"]
    assert t["ir"]["base"] == pytest.approx(1786307 / OPS) and t["ir"]["head"] == pytest.approx(1751527 / OPS)
    assert t["d1"]["base"] == pytest.approx(28461 / OPS, abs=1e-4)
    assert hash_change["unchanged"] is False


def test_the_inlined_hash_is_a_function_of_its_own_with_self_and_inclusive_costs(hash_change):
    rows = {f["name"]: f for f in hash_change["functions"]}
    hb = rows["inmemory_internal::HashBytes"]
    assert hb["self"]["ir"]["delta"] == pytest.approx(2.0)
    assert hb["inclusive"]["ir"]["base"] == pytest.approx(14.0) and hb["inclusive"]["ir"]["head"] == pytest.approx(15.0)
    # fewer probes with the new hash's layout: FindSlot's own instructions fell
    assert rows["InMemoryStateStore::FindSlot"]["self"]["ir"]["delta"] < 0


def _find(node: dict, name: str, path: tuple = ()) -> tuple | None:
    if node["name"] == name:
        return path + (node["name"],), node
    for c in node["children"]:
        hit = _find(c, name, path + (node["name"],))
        if hit:
            return hit
    return None


def test_the_flame_tree_holds_the_hash_under_get_with_both_sides_costs(hash_change):
    path, node = _find(hash_change["flame"], "inmemory_internal::HashBytes")
    assert path[:3] == ("all", "bench::Measure", "function::operator()")
    assert "InMemoryStateStore::get" in path and "InMemoryStateStore::Find" in path
    assert node["head_self"][0] - node["base_self"][0] == pytest.approx(2.0)
    assert hash_change["flame"]["head"][0] == pytest.approx(1751527 / OPS)


def test_the_same_profile_on_both_sides_says_plainly_that_nothing_changed():
    same = profdiff.diff(_side("base"), _side("base"), profdiff.Sources(PROFILES / "src-base", PROFILES / "src-base"))
    assert same["unchanged"] is True and same["top"] is None
    assert same["headline"].startswith(
        "same instructions and simulated misses: look at memory layout, page faults, or the machine (instr/op 89.3")


def test_for_a_speed_up_the_top_contributor_is_the_line_that_fell_most():
    result = profdiff.diff(_side("head"), _side("base"), profdiff.Sources(PROFILES / "src-head", PROFILES / "src-base"),
                           direction=-1)
    assert result["top"]["ir_delta"] < 0 and result["top"]["file"] == HEADER


def test_line_map_follows_insertions_and_pairs_edited_lines():
    base = ["a", "b", "c", "d"]
    assert profdiff.line_map(base, ["a", "new", "b", "c", "d"]) == {1: 1, 2: 3, 3: 4, 4: 5}
    assert profdiff.line_map(base, ["a", "B", "c", "d"]) == {1: 1, 2: 2, 3: 3, 4: 4}
    assert profdiff.line_map(base, ["a", "d"]) == {1: 1, 4: 2}
    assert profdiff.line_map([], base) is None


@pytest.mark.parametrize("full, short", [
    ("statestore::InMemoryStateStore::FindSlot(std::basic_string_view<char, std::char_traits<char> >, unsigned long) const",
     "InMemoryStateStore::FindSlot"),
    ("std::_Function_handler<void (), X::{lambda()#1}>::_M_invoke(std::_Any_data const&)", "_Function_handler::_M_invoke"),
    ("statestore::bench::(anonymous namespace)::Measure(std::string const&, unsigned long)", "bench::Measure"),
    ("void std::__invoke_impl<void, F&>(std::__invoke_other, F&)", "std::__invoke_impl"),
    ("std::function<void ()>::operator()() const", "function::operator()"),
    ("operator()", "operator()"),
])
def test_short_names_drop_templates_parameters_and_outer_scopes(full, short):
    assert profdiff.short_name(full) == short


def test_repo_paths_are_relative_to_the_source_tree_and_normalised():
    assert profdiff.repo_path("/t/build/profile/benches/../../../core/a.h", Path("/t")) == "core/a.h"
    assert profdiff.repo_path("/usr/include/c++/12/bits/std_function.h", Path("/t")) == \
        "/usr/include/c++/12/bits/std_function.h"


def test_the_manifest_passes_skipped_entries_through_and_reports_a_broken_one(tmp_path):
    manifest = {"format": profdiff.FORMAT, "status": "ok", "benchmarks": [
        {"benchmark": "state_get_inmemory/10000000", "status": "skipped",
         "reason": "no state_instr workload of that name (10M keys are bound by memory, not instructions)"},
        {"benchmark": "state_get_inmemory/1000", "status": "profiled", "ops": OPS, "workload": "state_get_inmemory/1000",
         "base": {"callgrind": str(tmp_path / "missing.out"), "root": None, "binary": None},
         "head": {"callgrind": str(tmp_path / "missing.out"), "root": None, "binary": None}},
    ]}
    doc = profdiff.build(manifest)
    assert doc["benchmarks"][0]["status"] == "skipped"
    assert doc["benchmarks"][1]["status"] == "failed"
    assert "cannot read callgrind file" in doc["benchmarks"][1]["reason"]


def test_the_command_line_writes_profile_json_and_maps_bad_input_to_exit_2(tmp_path, capsys):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": profdiff.FORMAT, "status": "skipped",
                                    "reason": "valgrind is not installed", "benchmarks": []}))
    out = tmp_path / "profile.json"
    assert profdiff.main(["--manifest", str(manifest), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["reason"] == "valgrind is not installed"
    manifest.write_text("{not json")
    assert profdiff.main(["--manifest", str(manifest), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"perfgate.profdiff: error: profile manifest {manifest} is not valid JSON")
    manifest.write_text(json.dumps({"format": "other"}))
    assert profdiff.main(["--manifest", str(manifest), "--out", str(out)]) == 2


def test_a_non_positive_operation_count_is_refused():
    prof = callgrind.read(PROFILES / "get_inmemory_1000.base.cg.out")
    with pytest.raises(PerfGateError, match="operation count must be positive, not 0"):
        profdiff.side_view(prof, {}, None, 0)


def test_library_code_inlined_from_outside_the_repository_is_charged_to_our_calling_line(hash_change):
    # std::function's call operator (a system header) is inlined into Measure's loop in state_instr.cc:
    # its instructions count at the state_instr.cc line that made the call, not at std_function.h:589.
    # _M_invoke's own code (a function of that header, nothing of ours around it) stays where it is.
    base = _side("base")
    assert ("/usr/include/c++/12/bits/std_function.h", 589) not in base.lines
    assert ("/usr/include/c++/12/bits/std_function.h", 288) in base.lines
    assert sum(c[0] for c in base.lines.values()) == pytest.approx(1786307 / OPS)


def test_a_shared_librarys_addresses_get_no_inline_chain_from_the_executable():
    prof = callgrind.parse(SHARED_LIB, "two-objects")
    chains = {0x10: [callgrind.Frame("main", "/r/a.cc", 3), callgrind.Frame("inl", "/r/a.h", 9)]}
    side = profdiff.side_view(prof, chains, Path("/r"), 1, binary="/r/prog")
    assert side.lines == {("a.cc", 3): (5.0, 0.0, 0.0), ("/glibc/memcmp.S", 7): (4.0, 0.0, 0.0)}
    assert side.line_function[("/glibc/memcmp.S", 7)] == "memcmp"  # not the executable's chain at 0x10
    assert profdiff.main_object_addresses(prof, "/r/prog") == [0x10]


SHARED_LIB = """events: Ir
positions: instr line
ob=(1) /r/prog
fl=(1) /r/a.cc
fn=(1) main
0x10 3 5
ob=(2) /lib/libc.so
fl=(2) /glibc/memcmp.S
fn=(2) memcmp
0x10 7 4
totals: 9
"""
