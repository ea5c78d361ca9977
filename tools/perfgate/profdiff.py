"""Differential profile: two callgrind dumps of one workload (base, head) -> what changed.

Both dumps count the same fixed number of operations of the same workload
(state_instr's measured loop, nothing else), so every figure here is a cost
per operation: instructions (Ir), simulated D1 misses (D1mr + D1mw) and
simulated last-level misses (DLmr + DLmw). It gives

- per function, self and inclusive, base -> head. Functions are those of the
  inline chains (addr2line on the build's DWARF info), so a hash function
  inlined into ``get`` is a function here as it is in the source, not
  invisible inside its caller;
- per source line (inlined code at its own file:line), base -> head, with
  base line numbers carried to head's through a line diff of the two source
  trees (a line added above a hot loop must not make every line below it
  look changed);
- a differential flame tree: head's call tree with base's costs beside;
- the single biggest contributor, or the plain statement that nothing the
  simulator sees changed.

"Sorted by the change" means by the change in callgrind's cycle estimate,
Ir + 10 x L1 misses + 100 x LL misses (the weights KCachegrind's CEst uses),
so that a line that got no more instructions but far more misses still ranks.

Entry point for the pipeline: ``python -m perfgate.profdiff --manifest M --out profile.json``
(the manifest is written by ``benchrun profile``).
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfgate import callgrind
from perfgate.callgrind import Frame, Profile
from perfgate.errors import PerfGateError

FORMAT = "statestore-profile/1"
METRICS = ("ir", "d1", "ll")
_EVENTS = {"ir": ("Ir",), "d1": ("D1mr", "D1mw"), "ll": ("DLmr", "DLmw")}
# KCachegrind's cycle estimate weights (CEst): an L1 miss ~10 cycles, an LL miss ~100.
CEST_WEIGHTS = {"ir": 1.0, "d1": 10.0, "ll": 100.0}
# Rows kept per table in profile.json (the report shows them all; summary.md shows one).
TOP_ROWS = 12
# Flame-graph frames narrower than this share of the larger side's total are dropped
# (the report draws the rest; tooltips name the dropped cost as "other").
FLAME_MIN_SHARE = 0.002
# Below these changes per operation the two profiles count as the same: less than a
# tenth of an instruction, a hundredth of a miss, or 0.5% of the estimated cycles.
SAME_IR = 0.1
SAME_MISSES = 0.01
SAME_CEST_SHARE = 0.005
# Table rows whose cycle estimate moved less than this per operation are left out.
SHOWN_CHANGE = 0.01
UNCHANGED_STATEMENT = "same instructions and simulated misses: look at memory layout, page faults, or the machine"

Cost = tuple[float, float, float]


def _metrics(prof: Profile, cost: tuple[int, ...], ops: int) -> Cost:
    return (prof.event(cost, *_EVENTS["ir"]) / ops, prof.event(cost, *_EVENTS["d1"]) / ops,
            prof.event(cost, *_EVENTS["ll"]) / ops)


def cest(c: Cost) -> float:
    return c[0] * CEST_WEIGHTS["ir"] + c[1] * CEST_WEIGHTS["d1"] + c[2] * CEST_WEIGHTS["ll"]


def _plus(a: Cost, b: Cost, scale: float = 1.0) -> Cost:
    return (a[0] + b[0] * scale, a[1] + b[1] * scale, a[2] + b[2] * scale)


ZERO: Cost = (0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- names and paths

def short_name(name: str) -> str:
    """'statestore::InMemoryStateStore::FindSlot(std::basic_string_view<...>, unsigned long) const'
    -> 'InMemoryStateStore::FindSlot': no template arguments, parameters, return type or
    qualifiers; the last two scopes."""
    text = name.replace("(anonymous namespace)", "{anon}").replace("operator()", "operator\x00")
    out = []
    angle = paren = 0
    for ch in text:
        if ch == "<" and paren == 0:
            angle += 1
        elif ch == ">" and paren == 0 and angle:
            angle -= 1
        elif ch == "(" and angle == 0:
            paren += 1
        elif ch == ")" and angle == 0 and paren:
            paren -= 1
        elif angle == 0 and paren == 0:
            out.append(ch)
    words = [w for w in "".join(out).split() if w not in ("const", "volatile", "&", "&&", "noexcept")]
    core = words[-1] if words else name
    scopes = [s for s in core.split("::") if s and s != "{anon}"]
    return "::".join(scopes[-2:]).replace("operator\x00", "operator()") or name


def repo_path(file: str, root: Path | None) -> str:
    """`file` relative to the source tree `root` when it lies inside it, else unchanged."""
    if not file.startswith("/"):
        return file
    file = os.path.normpath(file)  # a compiler run through ccache writes build/x/../../core/...
    if root is None:
        return file
    try:
        return str(Path(file).relative_to(os.path.normpath(root)))
    except ValueError:
        return file


def _source_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


@dataclass
class Sources:
    """Source text of both trees, and the map of base line numbers onto head's."""
    base_root: Path | None
    head_root: Path | None
    _cache: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _maps: dict[str, dict[int, int] | None] = field(default_factory=dict)

    def lines(self, side: str, file: str) -> list[str]:
        key = (side, file)
        if key not in self._cache:
            root = self.base_root if side == "base" else self.head_root
            path = Path(file) if file.startswith("/") or root is None else root / file
            self._cache[key] = _source_lines(path)
        return self._cache[key]

    def text(self, side: str, file: str, line: int) -> str:
        lines = self.lines(side, file)
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""

    def head_line(self, file: str, base_line: int) -> int | None:
        """Where base's `file`:`base_line` is in head; None when head changed or removed it.
        Files outside the repository (system headers) are the same on both sides."""
        if file.startswith("/"):
            return base_line
        if file not in self._maps:
            self._maps[file] = line_map(self.lines("base", file), self.lines("head", file))
        mapping = self._maps[file]
        return base_line if mapping is None else mapping.get(base_line)


def line_map(base: list[str], head: list[str]) -> dict[int, int] | None:
    """1-based base line -> head line for lines difflib finds equal, and pairwise across
    a replaced block (an edited line maps to its new self). None (identity) when either
    side's text is unknown."""
    if not base or not head:
        return None
    out: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(a=base, b=head, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or tag == "replace":
            for k in range(min(i2 - i1, j2 - j1)):
                out[i1 + k + 1] = j1 + k + 1
    return out


# --------------------------------------------------------------------------- one side

@dataclass
class FlameNode:
    name: str  # full name (key); display with short_name
    self_cost: Cost = ZERO
    children: dict[str, FlameNode] = field(default_factory=dict)

    def child(self, name: str) -> FlameNode:
        if name not in self.children:
            self.children[name] = FlameNode(name)
        return self.children[name]

    def total(self) -> Cost:
        t = self.self_cost
        for c in self.children.values():
            t = _plus(t, c.total())
        return t


@dataclass
class Side:
    """One profile, per operation: totals, per-line costs, the flame tree."""
    totals: Cost
    lines: dict[tuple[str, int], Cost]
    line_function: dict[tuple[str, int], str]
    flame: FlameNode


def side_view(prof: Profile, chains: dict[int, list[Frame]], root: Path | None, ops: int,
              binary: str | None = None) -> Side:
    """Per-operation view of one dump. `chains`: address -> inline chain of `binary`'s own
    functions (may be empty: then the tree has callgrind's functions only)."""
    if binary is not None:  # a shared library's addresses are offsets into it: no chain from this binary
        real = os.path.realpath(binary)
        chains = _ObjectChains(chains, {fn for fn, obj in prof.fn_obj.items()
                                        if obj and os.path.realpath(obj) != real})
    if ops <= 0:
        raise PerfGateError(f"{prof.path}: operation count must be positive, not {ops}")
    lines: dict[tuple[str, int], Cost] = {}
    line_function: dict[tuple[str, int], str] = {}
    if not prof.instr_self:  # no --dump-instr: callgrind's own per-line costs
        for (file, line), cost in prof.line_self.items():
            key = (repo_path(file, root), line)
            lines[key] = _plus(lines.get(key, ZERO), _metrics(prof, cost, ops))
    for (fn, addr), (file, line, cost) in prof.instr_self.items():
        key, function = _own_line(repo_path(file, root), line, _chain(chains, fn, addr), root, fn)
        lines[key] = _plus(lines.get(key, ZERO), _metrics(prof, cost, ops))
        line_function.setdefault(key, function)
    return Side(_metrics(prof, prof.totals, ops), lines, line_function, _flame(prof, chains, ops))


class _ObjectChains(dict):
    """Inline chains that know which functions (other objects') they do not cover."""

    def __init__(self, chains: dict[int, list[Frame]], foreign: set[str]) -> None:
        super().__init__(chains)
        self.foreign = foreign


def _chain(chains: dict[int, list[Frame]], fn: str, addr: int | None) -> list[Frame]:
    if addr is None or fn in getattr(chains, "foreign", ()):
        return []
    return chains.get(addr, [])


def _own_line(file: str, line: int, chain: list[Frame], root: Path | None,
              fn: str) -> tuple[tuple[str, int], str]:
    """Where an instruction's cost is charged: at its own file:line when that is the
    repository's code (a header inlined into get() included); library code inlined from
    outside it (std::string_view::compare, absl's btree, XXH3) at the line of ours whose
    call it was inlined for, found through the inline chain; else where it is."""
    if not file.startswith("/") or not chain:
        return (file, line), (chain[-1].function if chain else fn)
    for depth in range(len(chain) - 1, -1, -1):
        # frame `depth` runs at chain[depth].file:line (its own code, or the call to depth + 1)
        here = repo_path(chain[depth].file, root)
        if not here.startswith("/") and chain[depth].line:
            return (here, chain[depth].line), chain[depth].function
    return (file, line), chain[-1].function


def _flame(prof: Profile, chains: dict[int, list[Frame]], ops: int) -> FlameNode:
    """The call tree of one dump. Callgrind records a call graph, not stacks: a
    function called from several places has its cost split among them in
    proportion to what each call arc cost (exact when, as here, each function
    is reached one way). Inlined frames come from the chain of each address."""
    by_fn: dict[str, list[tuple[int | None, tuple[int, ...]]]] = {}
    for (fn, addr), (_file, _line, cost) in prof.instr_self.items():
        by_fn.setdefault(fn, []).append((addr, cost))
    for fn, cost in prof.fn_self.items():
        if fn not in by_fn:  # no addresses in this dump: the function's self cost at one spot
            by_fn[fn] = [(None, cost)]
    calls_from: dict[str, list[callgrind.Call]] = {}
    incoming: dict[str, tuple[int, ...]] = {}
    zero = (0,) * len(prof.events)
    for c in prof.calls:
        calls_from.setdefault(c.caller, []).append(c)
        if c.callee != c.caller:
            incoming[c.callee] = tuple(a + b for a, b in zip(incoming.get(c.callee, zero), c.cost))
    root = FlameNode("all")
    callees = {c.callee for c in prof.calls}
    roots = [fn for fn in list(by_fn) + list(calls_from) if fn not in callees]

    def inlined(node: FlameNode, fn: str, addr: int | None) -> FlameNode:
        for frame in _chain(chains, fn, addr)[1:]:
            node = node.child(frame.function)
        return node

    def expand(fn: str, node: FlameNode, scale: float, stack: tuple[str, ...]) -> None:
        here = node.child(fn)
        for addr, cost in by_fn.get(fn, []):
            target = inlined(here, fn, addr)
            target.self_cost = _plus(target.self_cost, _metrics(prof, cost, ops), scale)
        for c in calls_from.get(fn, []):
            site = inlined(here, fn, c.site_addr)
            if c.callee == fn or c.callee in stack:
                continue  # recursion: its cost is inside the outer frame's already
            total_in = prof.event(incoming.get(c.callee, zero), "Ir") or 1
            share = prof.event(c.cost, "Ir") / total_in
            if share > 0 and len(stack) < 64:
                expand(c.callee, site, scale * share, stack + (fn,))

    for fn in dict.fromkeys(roots):
        expand(fn, root, 1.0, ())
    return root


# --------------------------------------------------------------------------- the diff

def _row_cost(base: Cost, head: Cost) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for i, m in enumerate(METRICS):
        row[m] = {"base": round(base[i], 4), "head": round(head[i], 4), "delta": round(head[i] - base[i], 4)}
    row["cest_delta"] = round(cest(head) - cest(base), 4)
    return row


def _function_costs(flame: FlameNode) -> dict[str, tuple[Cost, Cost]]:
    """Function (call or inline frame) -> (self, inclusive) over the whole tree; a frame
    nested in itself counts once in the inclusive figure."""
    out: dict[str, tuple[Cost, Cost]] = {}

    def walk(node: FlameNode, above: frozenset[str]) -> None:
        for child in node.children.values():
            self_c, incl = out.get(child.name, (ZERO, ZERO))
            self_c = _plus(self_c, child.self_cost)
            if child.name not in above:
                incl = _plus(incl, child.total())
            out[child.name] = (self_c, incl)
            walk(child, above | {child.name})
    walk(flame, frozenset())
    return out


def _changed(rows: list[dict[str, Any]], key: str = "cest_delta") -> list[dict[str, Any]]:
    rows.sort(key=lambda r: (-abs(r[key]), -abs(r["ir"]["delta"]), r.get("name", r.get("file", ""))))
    return rows


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that changed (largest change first); when none did, the hottest in head."""
    moved = [r for r in rows if abs(r["cest_delta"]) >= SHOWN_CHANGE]
    if moved:
        return moved
    key = (lambda r: -r["self"]["ir"]["head"]) if rows and "self" in rows[0] else (lambda r: -r["ir"]["head"])
    return sorted(rows, key=key)


def _merge_flame(base: FlameNode, head: FlameNode, floor: float) -> dict[str, Any]:
    """One tree with both sides: head's frames (widths) with base's cost of the same path."""
    bt, ht = base.total(), head.total()
    node: dict[str, Any] = {"name": short_name(head.name or base.name), "full": head.name or base.name,
                            "head": _round(ht), "base": _round(bt),
                            "head_self": _round(head.self_cost), "base_self": _round(base.self_cost),
                            "children": []}
    names = list(head.children) + [n for n in base.children if n not in head.children]
    for name in names:
        h = head.children.get(name, FlameNode(name))
        b = base.children.get(name, FlameNode(name))
        if max(cest(h.total()), cest(b.total())) < floor:
            continue
        node["children"].append(_merge_flame(b, h, floor))
    node["children"].sort(key=lambda c: -c["head"][0])
    return node


def _round(c: Cost) -> list[float]:
    return [round(x, 4) for x in c]


def diff(base: Side, head: Side, sources: Sources, direction: int = 1) -> dict[str, Any]:
    """The differential profile of one benchmark (JSON-ready). `direction` +1: explain a
    slowdown (the top contributor is the line that grew most), -1: a speed-up."""
    # Lines: base carried to head's numbering; what head changed or removed stays base-only.
    keyed: dict[tuple[str, int | None, int | None], list[Cost]] = {}
    for (file, line), cost in head.lines.items():
        keyed[(file, line, None)] = [ZERO, cost]
    for (file, line), cost in base.lines.items():
        mapped = sources.head_line(file, line)
        key = (file, mapped, None) if mapped is not None else (file, None, line)
        slot = keyed.setdefault(key, [ZERO, ZERO])
        slot[0] = _plus(slot[0], cost)
    lines = []
    for (file, head_line, base_line), (b, h) in keyed.items():
        side, number = ("head", head_line) if head_line is not None else ("base", base_line)
        assert number is not None
        function = head.line_function.get((file, number)) if side == "head" else None
        function = function or base.line_function.get((file, base_line or number), "")
        lines.append({"file": file, "line": number, "side": side, "text": sources.text(side, file, number),
                      "function": short_name(function) if function else "", **_row_cost(b, h)})
    base_fns, head_fns = _function_costs(base.flame), _function_costs(head.flame)
    functions = []
    for name in list(head_fns) + [n for n in base_fns if n not in head_fns]:
        (bs, bi), (hs, hi) = base_fns.get(name, (ZERO, ZERO)), head_fns.get(name, (ZERO, ZERO))
        row: dict[str, Any] = {"name": short_name(name), "full": name, "self": _row_cost(bs, hs),
                               "inclusive": _row_cost(bi, hi)}
        row["cest_delta"] = row["self"]["cest_delta"]
        row["ir"] = row["self"]["ir"]
        functions.append(row)
    lines = _shown(_changed(lines))
    functions = _shown(_changed(functions))
    floor = FLAME_MIN_SHARE * max(cest(base.totals), cest(head.totals), 1e-9)
    result = {
        "totals": _row_cost(base.totals, head.totals),
        "functions": [{k: v for k, v in f.items() if k not in ("cest_delta", "ir")} for f in functions[:TOP_ROWS]],
        "lines": lines[:TOP_ROWS],
        "flame": _merge_flame(base.flame, head.flame, floor),
        "unchanged": unchanged(base.totals, head.totals),
    }
    result["top"] = None if result["unchanged"] else top_contributor(lines, direction)
    result["headline"] = headline(result)
    return result


def unchanged(base: Cost, head: Cost) -> bool:
    """True when nothing the simulator counts moved enough to explain a timing change."""
    small = (abs(head[0] - base[0]) < SAME_IR and abs(head[1] - base[1]) < SAME_MISSES
             and abs(head[2] - base[2]) < SAME_MISSES)
    return small or abs(cest(head) - cest(base)) < SAME_CEST_SHARE * max(cest(base), 1e-9)


def top_contributor(lines: list[dict[str, Any]], direction: int = 1) -> dict[str, Any] | None:
    """The line whose cycle estimate moved most in `direction` (+1: grew); the largest
    change either way when none moved that way. A hash that costs two more instructions
    can come with fewer probes of the table it feeds: the slowdown is the hash."""
    if not lines:
        return None
    toward = [r for r in lines if r["cest_delta"] * direction > 0]
    row = max(toward, key=lambda r: r["cest_delta"] * direction) if toward else lines[0]
    return {"file": row["file"], "line": row["line"], "side": row["side"], "function": row["function"],
            "text": row["text"], "ir_delta": row["ir"]["delta"], "d1_delta": row["d1"]["delta"],
            "ll_delta": row["ll"]["delta"], "text_summary": contributor_text(row)}


def contributor_text(row: dict[str, Any]) -> str:
    """'+3.1 instr/op in core/include/statestore/inmemory_state_store.h:130, HashBytes'."""
    ir, d1, ll = row["ir"]["delta"], row["d1"]["delta"], row["ll"]["delta"]
    parts = []
    if abs(ir) >= SAME_IR:
        parts.append(f"{ir:+.1f} instr/op")
    if abs(d1) >= SAME_MISSES:
        parts.append(f"{d1:+.2f} D1 misses/op")
    if abs(ll) >= SAME_MISSES:
        parts.append(f"{ll:+.2f} LL misses/op")
    where = f"{row['file']}:{row['line']}" + (" (base)" if row["side"] == "base" else "")
    what = ", ".join(parts) or f"{ir:+.2f} instr/op"
    return f"{what} in {where}" + (f", {row['function']}" if row["function"] else "")


def headline(result: dict[str, Any]) -> str:
    t = result["totals"]
    figures = (f"instr/op {t['ir']['base']:.1f} -> {t['ir']['head']:.1f}, D1 misses/op {t['d1']['base']:.2f} -> "
               f"{t['d1']['head']:.2f}, LL misses/op {t['ll']['base']:.2f} -> {t['ll']['head']:.2f}")
    if result["unchanged"]:
        return f"{UNCHANGED_STATEMENT} ({figures})"
    top = result["top"]
    return f"{top['text_summary']} ({figures})" if top else figures


# --------------------------------------------------------------------------- the pipeline entry

def profile_benchmark(entry: dict[str, Any]) -> dict[str, Any]:
    """Diffs one manifest entry (see benchrun/profile.py) into its profile.json entry."""
    out = {k: entry[k] for k in ("benchmark", "workload", "status", "reason", "ops", "verdict_status") if k in entry}
    if entry.get("status") != "profiled":
        return out
    direction = -1 if str(entry.get("verdict_status", "")).startswith("improved") else 1
    sides = {}
    for side in ("base", "head"):
        spec = entry[side]
        prof = callgrind.read(Path(spec["callgrind"]))
        addrs = main_object_addresses(prof, spec.get("binary"))
        if spec.get("addr2line_output"):  # a saved answer (tests, or a machine without binutils)
            chains = callgrind.parse_addr2line(_read_maybe_gzip(Path(spec["addr2line_output"])), addrs)
        else:
            chains = callgrind.inline_chains(Path(spec["binary"]), addrs) if spec.get("binary") else {}
        sides[side] = side_view(prof, chains, Path(spec["root"]) if spec.get("root") else None, int(entry["ops"]),
                                spec.get("binary"))
    text_root = {side: entry[side].get("sources") or entry[side].get("root") for side in ("base", "head")}
    sources = Sources(Path(text_root["base"]) if text_root["base"] else None,
                      Path(text_root["head"]) if text_root["head"] else None)
    out.update(diff(sides["base"], sides["head"], sources, direction))
    return out


def main_object_addresses(prof: Profile, binary: str | None) -> list[int]:
    """The addresses addr2line can answer for from `binary`: those of its own functions
    (a shared library's, e.g. libc's memcmp, are offsets into that library)."""
    def own(fn: str) -> bool:
        obj = prof.fn_obj.get(fn, "")
        return binary is None or not obj or os.path.realpath(obj) == os.path.realpath(binary)
    return sorted({a for (fn, a) in prof.instr_self if own(fn)}
                  | {c.site_addr for c in prof.calls if c.site_addr and own(c.caller)})


def _read_maybe_gzip(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PerfGateError(f"cannot read {path}: {exc.strerror or exc}") from None
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8", errors="replace")


def build(manifest: dict[str, Any]) -> dict[str, Any]:
    """profile.json from a manifest: every entry diffed or passed through as skipped."""
    if manifest.get("format") != FORMAT:
        raise PerfGateError(f"profile manifest has format {manifest.get('format')!r}, expected {FORMAT!r}")
    entries = []
    for entry in manifest.get("benchmarks", []):
        try:
            entries.append(profile_benchmark(entry))
        except PerfGateError as exc:
            entries.append({"benchmark": entry.get("benchmark", "?"), "status": "failed", "reason": str(exc)})
    return {"format": FORMAT, "status": manifest.get("status", "ok"), "reason": manifest.get("reason", ""),
            "settings": manifest.get("settings", {}), "seconds": manifest.get("seconds"), "benchmarks": entries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perfgate.profdiff", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.json written by benchrun profile")
    parser.add_argument("--out", type=Path, required=True, help="profile.json to write")
    args = parser.parse_args(argv)
    try:
        try:
            manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PerfGateError(f"cannot read profile manifest {args.manifest}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise PerfGateError(f"profile manifest {args.manifest} is not valid JSON ({exc})") from None
        doc = build(manifest)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    except PerfGateError as exc:
        print(f"perfgate.profdiff: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
