"""What tools/perf-gate compares, decided from git (benchrun.plan), and whether two builds
have the same code (benchrun.codeid): scratch git repositories and tiny compiled objects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchrun import codeid, plan
from benchrun.errors import BenchRunError


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def scratch_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "t")
    (path / "core").mkdir()
    (path / "core" / "hash.cc").write_text("int hash() { return 1; }\n")
    (path / "README.md").write_text("readme\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "one")
    return path


def commit(repo: Path, file: str, text: str, message: str) -> str:
    (repo / file).parent.mkdir(parents=True, exist_ok=True)
    (repo / file).write_text(text)
    git(repo, "add", file)
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def test_a_clean_tree_at_main_has_no_base_and_says_timing_is_not_enforced(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    decision = plan.decide(repo)
    assert decision.kind == "baseline" and decision.base is None
    assert "clean tree at main" in decision.line
    assert "timing reported, not enforced: no base revision; use BASE=" in decision.line


def test_a_directory_outside_git_has_no_base(tmp_path):
    decision = plan.decide(tmp_path)
    assert decision.kind == "baseline"
    assert "not a git checkout" in decision.line


def test_uncommitted_changes_to_core_compare_the_working_tree_against_head(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    (repo / "core" / "hash.cc").write_text("int hash() { return 2; }\n")
    decision = plan.decide(repo)
    assert decision.kind == "ab" and not decision.skip
    assert decision.base == git(repo, "rev-parse", "HEAD")
    assert "working tree against HEAD" in decision.line and "1 file under core/" in decision.line
    assert decision.changed == ["core/hash.cc"]


def test_an_untracked_file_in_benches_counts_as_a_change(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    (repo / "benches").mkdir()
    (repo / "benches" / "new.cc").write_text("int x;\n")
    decision = plan.decide(repo)
    assert decision.kind == "ab" and decision.changed == ["benches/new.cc"]


def test_uncommitted_docs_do_not_make_a_comparison(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    (repo / "README.md").write_text("edited\n")
    assert plan.decide(repo).kind == "baseline"


def test_a_clean_branch_ahead_of_main_compares_against_the_merge_base(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    fork = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-qb", "topic")
    commit(repo, "core/hash.cc", "int hash() { return 3; }\n", "faster")
    commit(repo, "core/other.cc", "int o;\n", "more")
    git(repo, "checkout", "-q", "main")
    commit(repo, "README.md", "main moved on\n", "docs on main")
    git(repo, "checkout", "-q", "topic")
    decision = plan.decide(repo)
    assert decision.kind == "ab" and decision.base == fork
    assert decision.commits == 2
    assert "merge base with main" in decision.line and "2 commits ahead of main" in decision.line
    assert decision.changed == ["core/hash.cc", "core/other.cc"]


def test_origin_main_is_preferred_to_a_stale_local_main(tmp_path):
    upstream = scratch_repo(tmp_path / "up")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(upstream), str(clone)], check=True)
    git(clone, "config", "user.email", "t@example.com")
    git(clone, "config", "user.name", "t")
    commit(clone, "core/hash.cc", "int hash() { return 4; }\n", "local work on main")
    decision = plan.decide(clone)
    assert decision.kind == "ab" and "origin/main" in decision.line
    assert decision.base == git(upstream, "rev-parse", "HEAD")


def test_a_branch_ahead_with_docs_only_is_skipped_without_building(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    git(repo, "checkout", "-qb", "docs")
    commit(repo, "README.md", "better docs\n", "docs")
    decision = plan.decide(repo)
    assert decision.skip
    assert decision.line.startswith("perf-gate: no code change: benchmarks not re-run")
    assert "no change under core/, benches/, CMakeLists.txt between merge-base main and the HEAD" in decision.line


def test_base_overrides_the_decision(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    first = git(repo, "rev-parse", "HEAD")
    commit(repo, "core/hash.cc", "int hash() { return 5; }\n", "change")
    decision = plan.decide(repo, "HEAD~1")
    assert decision.kind == "ab" and decision.base == first
    assert "BASE=HEAD~1 as asked" in decision.line


def test_an_unknown_base_is_one_line_naming_it(tmp_path):
    repo = scratch_repo(tmp_path / "r")
    with pytest.raises(BenchRunError, match=r"unknown git revision 'no-such-ref' \(BASE=\)"):
        plan.decide(repo, "no-such-ref")


# ----------------------------------------------------------------------------- codeid

def fake_build(root: Path, sources: dict[str, str], cc_dir: Path) -> Path:
    """A CMake-shaped build tree: benches/CMakeFiles/state_bench.dir/{link.txt,*.o}, the
    objects compiled from `sources` written under `cc_dir` (so their paths differ)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("a C compiler is needed (tools/setup.sh build installs it)")
    obj_dir = root / "benches" / "CMakeFiles" / "state_bench.dir"
    obj_dir.mkdir(parents=True)
    cc_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for name, text in sources.items():
        src = cc_dir / name
        src.write_text(text)
        obj = obj_dir / f"{name}.o"
        subprocess.run([gcc, "-O2", "-c", str(src), "-o", str(obj), "-MD", "-MF", f"{obj}.d"], check=True,
                       cwd=cc_dir)
        objects.append(f"CMakeFiles/state_bench.dir/{name}.o")
    (obj_dir / "link.txt").write_text(f"/usr/bin/c++ -O3 -DNDEBUG {' '.join(objects)} -o state_bench -lm\n")
    return root


CODE = {"get.c": "int get(int k) { return k * 31 + 7; }\n", "put.c": "int put(int k) { return k ^ 5; }\n"}


def test_the_same_sources_built_from_two_trees_have_one_identity(tmp_path):
    a = codeid.identity(fake_build(tmp_path / "a", CODE, tmp_path / "src-a"), ("state_bench",))
    b = codeid.identity(fake_build(tmp_path / "b", CODE, tmp_path / "elsewhere" / "src-b"), ("state_bench",))
    assert len(a.objects) == 2
    assert a.differences(b) == []


def test_one_changed_function_is_named_as_the_difference(tmp_path):
    a = codeid.identity(fake_build(tmp_path / "a", CODE, tmp_path / "src-a"), ("state_bench",))
    more_work = "int get(int k) { int h = k; for (int i = 0; i < 3; i++) h = h * 31 + i; return h; }\n"
    slower = dict(CODE, **{"get.c": more_work})
    b = codeid.identity(fake_build(tmp_path / "b", slower, tmp_path / "src-b"), ("state_bench",))
    assert a.differences(b) == ["benches/CMakeFiles/state_bench.dir/get.c.o"]


def test_a_comment_only_change_is_not_a_code_change(tmp_path):
    a = codeid.identity(fake_build(tmp_path / "a", CODE, tmp_path / "src-a"), ("state_bench",))
    commented = dict(CODE, **{"get.c": "/* why: a prime */\nint get(int k) { return k * 31 + 7; }\n"})
    b = codeid.identity(fake_build(tmp_path / "b", commented, tmp_path / "src-b"), ("state_bench",))
    assert a.differences(b) == []


def test_the_source_path_is_written_only_into_the_data_only_object():
    benches = Path(__file__).resolve().parents[2] / "benches"
    writers = sorted(p.name for p in benches.rglob("*") if p.suffix in (".cc", ".h", ".in")
                     and "@STATESTORE_BENCH_SOURCE_DIR@" in p.read_text())
    assert writers == [f"{codeid.SOURCE_PATH_UNIT}.cc.in"]


def test_the_object_that_embeds_the_source_path_is_left_out_and_named(tmp_path):
    src = tmp_path / "src-a"
    src.mkdir()
    with_path = dict(CODE, **{"source_dir.c": f'const char kSourceDir[] = "{src}";\n'})
    ident = codeid.identity(fake_build(tmp_path / "a", with_path, src), ("state_bench",))
    assert ident.excluded == ["benches/CMakeFiles/state_bench.dir/source_dir.c.o"]
    assert "left out: benches/CMakeFiles/state_bench.dir/source_dir.c.o" in ident.describe()


def test_a_different_link_line_is_a_difference(tmp_path):
    a_root = fake_build(tmp_path / "a", CODE, tmp_path / "src-a")
    b_root = fake_build(tmp_path / "b", CODE, tmp_path / "src-b")
    link = b_root / "benches" / "CMakeFiles" / "state_bench.dir" / "link.txt"
    link.write_text(link.read_text().replace("-O3", "-O1"))
    a, b = codeid.identity(a_root, ("state_bench",)), codeid.identity(b_root, ("state_bench",))
    assert a.differences(b) == ["link line of state_bench"]


def test_a_build_tree_without_the_target_is_one_line(tmp_path):
    with pytest.raises(BenchRunError, match=r"cannot read the link line of state_bench: .*link.txt"):
        codeid.identity(tmp_path, ("state_bench",))
