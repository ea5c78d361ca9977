"""Builds a state_bench binary for another git revision in its own worktree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from benchrun.errors import BenchRunError


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BenchRunError(f"cannot run {cmd[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BenchRunError(f"{' '.join(cmd)} failed: {' / '.join(tail)}")
    return done.stdout.strip()


def resolve(repo: Path, ref: str) -> str:
    """The full commit id of `ref`, or BenchRunError naming the ref."""
    try:
        return _run(["git", "-C", str(repo), "rev-parse", "--verify", f"{ref}^{{commit}}"])
    except BenchRunError as exc:
        raise BenchRunError(f"unknown git revision '{ref}'") from exc


def build_revision(repo: Path, ref: str, build_root: Path, cmake_args: list[str] | None = None) -> Path:
    """Checks `ref` out into build_root/base-src and builds it Release in
    build_root/base-release; returns the path of its state_bench (state_instr is built
    beside it when the revision has it, so that benchrun.codeid can compare both).

    The worktree and build directory are reused across calls, so a second A/B
    against the same base costs only an incremental build.
    """
    commit = resolve(repo, ref)
    src = build_root / "base-src"
    out = build_root / "base-release"
    if (src / ".git").exists():
        _run(["git", "-C", str(src), "checkout", "-q", "--detach", commit])
    else:
        build_root.mkdir(parents=True, exist_ok=True)
        _run(["git", "-C", str(repo), "worktree", "prune"])
        _run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(src.resolve()), commit])
    _run(["cmake", "-S", str(src), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
          "-DSTATESTORE_BUILD_TESTS=OFF", *(cmake_args or [])])
    targets = ["state_bench"] + (["state_instr"] if (src / "benches" / "state_instr.cc").exists() else [])
    _run(["cmake", "--build", str(out), "-j", str(os.cpu_count() or 2), "--target", *targets])
    binary = out / "benches" / "state_bench"
    if not binary.is_file():
        raise BenchRunError(f"revision {ref} ({commit[:12]}) built no benches/state_bench")
    return binary
