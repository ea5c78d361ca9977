"""Reads callgrind's output format (one dump file) into plain Python data.

The format (valgrind's "Callgrind Format Specification", version 1) is a
header of ``key: value`` lines (``positions:``, ``events:``, ``desc:``,
``totals:``) and a body of position-specification lines (``ob=``, ``fl=``,
``fi=``/``fe=``, ``fn=``, ``cob=``, ``cfi=``/``cfl=``, ``cfn=``,
``calls=``, ``jump=``/``jcnd=``) and cost lines::

    fl=(2) /usr/include/c++/12/bits/std_function.h   <- "(id) name" defines a compressed name
    fn=(4)                                            <- "(id)" refers to it
    0xe590 288 20000 0 20000                          <- positions (instr line), then one count per event
    +2 * 20000 0 20000                                <- "+N"/"-N": relative to the previous line, "*": the same
    cfn=(7) callee
    calls=20000 0xe600 300                            <- the next cost line is that call's inclusive cost
    * * 1606300 551480

Why our own parser rather than Debian's ``callgrind_annotate`` (valgrind
3.19, a Perl script): its output is a report for people, not data, and with
``positions: instr line`` (``--dump-instr=yes``) it applies a relative
address to the previous *line* number, so it cannot give per-instruction
costs, which the inline attribution here needs. ``gprof2dot`` is not
packaged for Debian 12. This module follows the specification and
KCachegrind's reader (the format's reference consumer) where the
specification is loose:

- ``fl=``, ``fi=`` and ``fe=`` all set the file of the following cost lines;
  ``fn=`` takes the file in force as the function's own (callgrind always
  switches back with ``fe=`` before a new function).
- ``cob=``/``cfi=`` default to the current object/file and apply to the
  next call only.
- Every cost line, the call-cost line after ``calls=`` included, moves the
  current position; the target position on the ``calls=`` line does not.
- Missing trailing counts are zero; ``summary:`` is ignored (valgrind 3.19
  writes a wrapped-around difference there for the second and later dumps of
  a run); ``totals:`` is checked against the sum of the self costs.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from perfgate.errors import PerfGateError

# Name-compression namespaces: which keys share one table of "(id) name" definitions.
_NAMESPACE = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl",
              "jfi": "fl", "fn": "fn", "cfn": "fn", "jfn": "fn"}
_COMPRESSED = re.compile(r"^\((?P<id>\d+)\)(?:\s+(?P<name>.*))?$")
_HEADER = re.compile(r"^(?P<key>[a-z]+):\s?(?P<value>.*)$")
_SPEC = re.compile(r"^(?P<key>[a-z]+)=(?P<value>.*)$")


@dataclass(frozen=True)
class Call:
    """One call arc as callgrind recorded it: `count` calls from `caller` to
    `callee` made at `site` (address, file, line), costing `cost` inclusive."""
    caller: str
    callee: str
    count: int
    site_addr: int | None
    site_file: str
    site_line: int | None
    cost: tuple[int, ...]


@dataclass
class Profile:
    """One callgrind dump. Costs are tuples of counts in the order of `events`.

    fn_self:    function -> self cost (cost lines, not calls)
    fn_file:    function -> the file callgrind names as its own
    fn_obj:     function -> the object (executable or shared library) it is in
    line_self:  (file, line) -> self cost, inlined code at its own file and line
    instr_self: (function, address) -> (file, line, self cost); with --dump-instr=yes only
    calls:      the call arcs
    """
    path: str
    events: list[str]
    positions: list[str]
    totals: tuple[int, ...]
    trigger: str = ""
    cmd: str = ""
    fn_self: dict[str, tuple[int, ...]] = field(default_factory=dict)
    fn_file: dict[str, str] = field(default_factory=dict)
    fn_obj: dict[str, str] = field(default_factory=dict)
    line_self: dict[tuple[str, int], tuple[int, ...]] = field(default_factory=dict)
    instr_self: dict[tuple[str, int], tuple[str, int, tuple[int, ...]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def event(self, cost: tuple[int, ...], *names: str) -> int:
        """The sum of the named events of `cost` (0 for an event this dump did not collect)."""
        return sum(cost[self.events.index(n)] for n in names if n in self.events)

    def inclusive(self) -> dict[str, tuple[int, ...]]:
        """Function -> inclusive cost: its self cost plus the cost of its calls to
        other functions (a recursive call's cost is already inside the caller's)."""
        out = dict(self.fn_self)
        for c in self.calls:
            if c.callee != c.caller:
                out[c.caller] = _add(out.get(c.caller, _zero(len(self.events))), c.cost)
        return out

    def has_addresses(self) -> bool:
        return "instr" in self.positions


def _zero(n: int) -> tuple[int, ...]:
    return (0,) * n


def _add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b))


class _Reader:
    """The parsing state of one file (see the module doc for the rules)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.names: dict[str, dict[int, str]] = {"ob": {}, "fl": {}, "fn": {}}
        self.events: list[str] = []
        self.positions: list[str] = ["line"]
        self.totals: tuple[int, ...] | None = None
        self.header: dict[str, str] = {}
        self.obj = ""
        self.file = ""
        self.fn: str | None = None
        self.call_obj: str | None = None
        self.call_file: str | None = None
        self.call_fn: str | None = None
        self.pending_call: tuple[int, list[int]] | None = None
        self.pos: list[int] = []
        self.lineno = 0
        self.body = False

    def fail(self, what: str) -> PerfGateError:
        return PerfGateError(f"callgrind file {self.path}:{self.lineno}: {what}")

    def name(self, key: str, value: str) -> str:
        table = self.names[_NAMESPACE[key]]
        m = _COMPRESSED.match(value.strip())
        if m is None:
            return value.strip()
        ident = int(m.group("id"))
        if m.group("name") is not None:
            table[ident] = m.group("name")
            return m.group("name")
        if ident not in table:
            raise self.fail(f"{key}=({ident}) refers to a name never defined")
        return table[ident]

    def position(self, tokens: list[str], base: list[int]) -> list[int]:
        """Absolute positions from the first len(positions) tokens, relative to `base`."""
        out = []
        for i, kind in enumerate(self.positions):
            tok = tokens[i]
            prev = base[i] if i < len(base) else 0
            try:
                if tok == "*":
                    out.append(prev)
                elif tok[0] in "+-":
                    out.append(prev + int(tok))
                else:
                    out.append(int(tok, 16) if tok.lower().startswith("0x") else int(tok))
            except ValueError:
                raise self.fail(f"bad {kind} position '{tok}'") from None
        return out


def parse(text: str, path: str = "<callgrind>") -> Profile:
    """Parses the text of one callgrind dump; PerfGateError naming file:line on bad input."""
    r = _Reader(path)
    prof: Profile | None = None
    for raw in text.splitlines():
        r.lineno += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first = line[0]
        if first.isdigit() or first in "+-*":
            if prof is None:
                prof = _start(r)
            _cost_line(r, prof, line)
            continue
        spec = _SPEC.match(line)
        if spec is not None:
            if prof is None:
                prof = _start(r)
            _spec_line(r, prof, spec.group("key"), spec.group("value"))
            continue
        head = _HEADER.match(line)
        if head is not None:
            key, value = head.group("key"), head.group("value").strip()
            if key == "totals":
                r.totals = _counts(r, value.split())
            elif key == "events":
                if prof is not None:
                    raise r.fail("events: after the first cost line")
                r.events = value.split()
            elif key == "positions":
                if prof is not None:
                    raise r.fail("positions: after the first cost line")
                r.positions = value.split()
                if not set(r.positions) <= {"instr", "line"} or not r.positions:
                    raise r.fail(f"unsupported positions '{value}' (expected instr and/or line)")
            elif key == "desc" and value.startswith("Trigger:"):
                r.header["trigger"] = value.removeprefix("Trigger:").strip()
            elif key == "cmd":
                r.header["cmd"] = value
            continue
        raise r.fail(f"not a callgrind line: {raw[:60]!r}")
    if prof is None:
        prof = _start(r)
    if r.pending_call is not None:
        raise r.fail("calls= line without the cost line that must follow it")
    if r.totals is not None:
        summed = _zero(len(r.events))
        for cost in prof.fn_self.values():
            summed = _add(summed, cost)
        totals = r.totals + _zero(len(r.events) - len(r.totals))
        if summed != totals:
            raise PerfGateError(f"callgrind file {path}: the self costs add up to {list(summed)}, "
                                f"but its totals line says {list(totals)} (truncated or corrupt file?)")
        prof.totals = totals
    return prof


def _start(r: _Reader) -> Profile:
    if not r.events:
        raise r.fail("no events: line before the first cost line (not a callgrind file?)")
    return Profile(path=r.path, events=list(r.events), positions=list(r.positions),
                   totals=_zero(len(r.events)), trigger=r.header.get("trigger", ""), cmd=r.header.get("cmd", ""))


def _counts(r: _Reader, tokens: list[str]) -> tuple[int, ...]:
    if len(tokens) > len(r.events):
        raise r.fail(f"{len(tokens)} counts for {len(r.events)} events")
    try:
        values = [int(t) for t in tokens]
    except ValueError:
        raise r.fail(f"bad count in '{' '.join(tokens)}'") from None
    return tuple(values) + _zero(len(r.events) - len(values))


def _spec_line(r: _Reader, prof: Profile, key: str, value: str) -> None:
    if key in ("ob",):
        r.obj = r.name(key, value)
    elif key in ("fl", "fi", "fe"):
        r.file = r.name(key, value)
    elif key == "fn":
        r.fn = r.name(key, value)
        prof.fn_file.setdefault(r.fn, r.file)
        prof.fn_obj.setdefault(r.fn, r.obj)
    elif key == "cob":
        r.call_obj = r.name(key, value)
    elif key in ("cfi", "cfl"):
        r.call_file = r.name(key, value)
    elif key == "cfn":
        r.call_fn = r.name(key, value)
    elif key in ("jfi", "jfn"):
        r.name(key, value)  # defines a compressed name; jumps themselves are not used
    elif key == "calls":
        tokens = value.split()
        if r.call_fn is None:
            raise r.fail("calls= without a cfn= before it")
        if len(tokens) < 1 + len(r.positions):
            raise r.fail(f"calls= needs a count and {len(r.positions)} target position(s): '{value}'")
        try:
            count = int(tokens[0])
        except ValueError:
            raise r.fail(f"bad call count '{tokens[0]}'") from None
        r.pending_call = (count, r.position(tokens[1:], r.pos))
    elif key in ("jump", "jcnd"):
        pass  # --collect-jumps data: the target position is relative but does not move the current one
    elif key in ("rec", "frfn", "ln", "bb"):
        pass
    else:
        raise r.fail(f"unknown specification '{key}='")


def _cost_line(r: _Reader, prof: Profile, line: str) -> None:
    tokens = line.split()
    if len(tokens) < len(r.positions):
        raise r.fail(f"cost line with fewer than {len(r.positions)} positions: '{line[:60]}'")
    r.pos = r.position(tokens, r.pos)
    cost = _counts(r, tokens[len(r.positions):])
    if r.fn is None:
        raise r.fail("cost line before any fn=")
    addr = r.pos[r.positions.index("instr")] if "instr" in r.positions else None
    lineno = r.pos[r.positions.index("line")] if "line" in r.positions else None
    if r.pending_call is not None:
        count, _target = r.pending_call
        callee = r.call_fn or ""
        prof.fn_file.setdefault(callee, r.call_file if r.call_file is not None else r.file)
        prof.calls.append(Call(r.fn, callee, count, addr, r.file, lineno, cost))
        r.pending_call = None
        r.call_obj = r.call_file = None  # cfn= stays, as in KCachegrind; callgrind repeats it anyway
        return
    zero = _zero(len(r.events))
    prof.fn_self[r.fn] = _add(prof.fn_self.get(r.fn, zero), cost)
    if lineno is not None:
        key = (r.file, lineno)
        prof.line_self[key] = _add(prof.line_self.get(key, zero), cost)
    if addr is not None:
        old = prof.instr_self.get((r.fn, addr))
        prof.instr_self[(r.fn, addr)] = (r.file, lineno or 0, cost if old is None else _add(old[2], cost))


def read(path: Path) -> Profile:
    """Parses a callgrind file; PerfGateError if it cannot be read or is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PerfGateError(f"cannot read callgrind file {path}: {exc.strerror or exc}") from None
    return parse(text, str(path))


# --------------------------------------------------------------------------- inline chains

@dataclass(frozen=True)
class Frame:
    """One frame of an instruction's inline chain: the function, and the file:line
    where this frame's code is (the innermost frame) or calls the next one."""
    function: str
    file: str
    line: int


_LOCATION = re.compile(r"^(?P<file>.*?):(?P<line>\d+|\?)(?: \(discriminator \d+\))?$")


def parse_addr2line(output: str, addresses: list[int]) -> dict[int, list[Frame]]:
    """Parses `addr2line -a -f -i -C` output: per address, its frames outermost first
    (the function callgrind names, then each inlined callee down to the instruction's own)."""
    chains: dict[int, list[Frame]] = {}
    lines = output.splitlines()
    i = 0
    current: int | None = None
    frames: list[Frame] = []
    while i < len(lines):
        text = lines[i]
        if text.startswith("0x"):
            if current is not None:
                chains[current] = list(reversed(frames))
            current = int(text, 16)
            frames = []
            i += 1
            continue
        if i + 1 >= len(lines) or current is None:
            raise PerfGateError(f"unexpected addr2line output near line {i + 1}: {text[:60]!r}")
        m = _LOCATION.match(lines[i + 1])
        file, line = (m.group("file"), int(m.group("line")) if m.group("line") != "?" else 0) if m else ("??", 0)
        frames.append(Frame(text, file, line))
        i += 2
    if current is not None:
        chains[current] = list(reversed(frames))
    missing = [a for a in addresses if a not in chains]
    if missing:
        raise PerfGateError(f"addr2line gave no answer for {len(missing)} address(es), e.g. {missing[0]:#x}")
    return chains


def inline_chains(binary: Path, addresses: list[int], addr2line: str = "addr2line") -> dict[int, list[Frame]]:
    """The inline chain of each address of `binary` (link-time addresses, as callgrind
    writes them), from binutils' addr2line and the binary's DWARF info."""
    if not addresses:
        return {}
    query = "".join(f"{a:#x}\n" for a in addresses)
    try:
        done = subprocess.run([addr2line, "-a", "-f", "-i", "-C", "-e", str(binary)], input=query,
                              capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PerfGateError(f"cannot run {addr2line}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise PerfGateError(f"addr2line on {binary} exited with {done.returncode}: {done.stderr.strip()[:200]}")
    return parse_addr2line(done.stdout, addresses)
