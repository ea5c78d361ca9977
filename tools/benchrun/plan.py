"""What `tools/perf-gate` compares when nobody says, decided from git.

The default must use a method that holds on the machine at hand (README, "The gate
measured"): a same-run A/B whenever there is a base revision to build, otherwise the
profile against the committed targets with timing reported but not enforced.

  uncommitted changes to what the benchmarks build    A/B: working tree against HEAD
  clean, commits ahead of main                         A/B: HEAD against its merge base with main
  clean at main, or not a git checkout                 no base: targets, allocations, timing reported

`BASE=` overrides all of it. "What the benchmarks build" is BENCH_INPUTS: a change
anywhere else (docs, the workflow, the gate's own Python) cannot change a measurement.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchrun.errors import BenchRunError

# The paths whose content decides what state_bench and state_instr execute.
BENCH_INPUTS = ("core", "benches", "CMakeLists.txt")
# Branches a change is measured against, in order: the upstream's main, then a local one.
MAIN_CANDIDATES = ("origin/main", "upstream/main", "main")
NO_BASE_HINT = "timing reported, not enforced: no base revision; use BASE=<git ref> to compare"


@dataclass(frozen=True)
class Plan:
    """One decision: `kind` "ab" (base is a commit id to build; head is the working
    tree) or "baseline" (no base); `skip` when base and head cannot differ in what the
    benchmarks build (then `skip_reason` says why); `line` is the one line printed."""

    kind: str
    line: str
    base: str | None = None
    base_label: str = ""
    head_label: str = "working tree"
    skip_reason: str = ""
    changed: list[str] = field(default_factory=list)
    commits: int = 0

    @property
    def skip(self) -> bool:
        return bool(self.skip_reason)


def _git(repo: Path, *args: str, strip: bool = True) -> str | None:
    """stdout of a git command in `repo`, or None when it fails (or git is missing)."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if strip else done.stdout


def short(commit: str) -> str:
    return commit[:12]


def _dirty_inputs(repo: Path) -> list[str]:
    """The bench inputs with uncommitted changes (untracked files included)."""
    out = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", *BENCH_INPUTS, strip=False)
    return [line[3:].split(" -> ")[-1] for line in (out or "").splitlines() if line.strip()]


def _main_ref(repo: Path) -> str | None:
    candidates = list(MAIN_CANDIDATES)
    upstream = _git(repo, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    if upstream and "/" in upstream:
        candidates.insert(0, upstream.split("/", 1)[0] + "/main")
    for ref in candidates:
        if _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"):
            return ref
    return None


def changed_inputs(repo: Path, base: str, head: str | None = None) -> list[str]:
    """Bench inputs that differ between commit `base` and `head` (None: the working tree)."""
    args = ["diff", "--name-only", base] + ([head] if head else []) + ["--", *BENCH_INPUTS]
    out = _git(repo, *args)
    if out is None:
        raise BenchRunError(f"git diff against {base} failed in {repo}")
    changed = out.splitlines()
    if head is None:  # untracked files are not in `git diff`
        changed += [p for p in _dirty_inputs(repo) if p not in changed]
    return sorted(set(changed))


def resolve(repo: Path, ref: str) -> str:
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not commit:
        raise BenchRunError(f"unknown git revision '{ref}' (BASE=): not a commit in {repo}")
    return commit


def _inputs_text() -> str:
    return ", ".join(p + ("/" if "." not in p else "") for p in BENCH_INPUTS)


def decide(repo: Path, base_ref: str | None = None, no_base: bool = False) -> Plan:
    """The comparison for this checkout (see the module doc); BenchRunError (exit 2)
    for a BASE that is not a commit. `no_base`: the committed baseline only, as asked."""
    if no_base:
        if base_ref:
            raise BenchRunError(f"BASE={base_ref} and --no-base contradict each other")
        return Plan("baseline", f"perf-gate: against the committed baseline as asked (--no-base): "
                                f"{NO_BASE_HINT.split(';')[0]}")
    inside = _git(repo, "rev-parse", "--is-inside-work-tree") == "true"
    if base_ref:
        if not inside:
            raise BenchRunError(f"BASE={base_ref} needs a git checkout, and {repo} is not one")
        commit = resolve(repo, base_ref)
        changed = changed_inputs(repo, commit)
        why = f"BASE={base_ref} as asked"
        return _ab(f"the working tree against {base_ref} ({short(commit)})", why,
                   Plan("ab", "", commit, base_ref, changed=changed))
    if not inside:
        return Plan("baseline", f"perf-gate: no base revision (not a git checkout): {NO_BASE_HINT}")
    head = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not head:
        return Plan("baseline", f"perf-gate: no base revision (no commit yet): {NO_BASE_HINT}")
    dirty = _dirty_inputs(repo)
    if dirty:
        why = (f"uncommitted changes to what the benchmarks build ({len(dirty)} file"
               f"{'' if len(dirty) == 1 else 's'} under {_inputs_text()})")
        return _ab(f"the working tree against HEAD ({short(head)})", why,
                   Plan("ab", "", head, "HEAD", changed=changed_inputs(repo, head)))
    main = _main_ref(repo)
    if main is None:
        return Plan("baseline", f"perf-gate: no base revision (no main branch to compare with): {NO_BASE_HINT}")
    merge_base = _git(repo, "merge-base", main, "HEAD")
    if not merge_base:
        return Plan("baseline", f"perf-gate: no base revision (HEAD shares no history with {main}): {NO_BASE_HINT}")
    if merge_base == head:
        return Plan("baseline", f"perf-gate: no base revision (clean tree at {main}, {short(head)}): {NO_BASE_HINT}")
    ahead = int(_git(repo, "rev-list", "--count", f"{merge_base}..HEAD") or 0)
    why = f"clean tree, {ahead} commit{'' if ahead == 1 else 's'} ahead of {main}"
    return _ab(f"HEAD ({short(head)}) against its merge base with {main} ({short(merge_base)})", why,
               Plan("ab", "", merge_base, f"merge-base {main}", head_label="HEAD",
                    changed=changed_inputs(repo, merge_base), commits=ahead))


def _ab(what: str, why: str, draft: Plan) -> Plan:
    """The A/B `draft` (base, labels, changed inputs, commits) with its line; skipped when
    nothing the benchmarks build changed between its base and head."""
    if not draft.changed:
        skip = f"no change under {_inputs_text()} between {draft.base_label} and the {draft.head_label}"
        return replace(draft, line=f"perf-gate: no code change: benchmarks not re-run ({skip}; {why})",
                       skip_reason=skip)
    return replace(draft, line=f"perf-gate: same-run A/B of {what}: {why}")
