"""The import graph of perfgate and benchrun: every module imports alone, and no
module reaches itself through imports (function-local imports included)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from conftest import TOOLS

PACKAGES = ("perfgate", "benchrun")


def _modules() -> list[str]:
    return sorted(f"{pkg}.{f.stem}" if f.stem != "__init__" else pkg
                  for pkg in PACKAGES for f in (TOOLS / pkg).glob("*.py"))


def _imports(module: str) -> set[str]:
    """The package modules that `module` imports anywhere in its source."""
    pkg, _, name = module.partition(".")
    path = TOOLS / pkg / f"{name or '__init__'}.py"
    found: set[str] = set()
    known = set(_modules())
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in PACKAGES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            # `from perfgate import render` imports perfgate.render; `from perfgate.x import y` imports x.
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= subs or {node.module}
    return found - {module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_module_of_perfgate_or_benchrun_reaches_itself_through_its_imports():
    graph = {m: _imports(m) for m in _modules()}
    # Package __init__ modules import nothing of their own package, so edges through them are not cycles.
    assert all(not graph[pkg] for pkg in PACKAGES)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_scan_finds_a_cycle_hidden_in_a_function():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# Run in a fresh interpreter: before each import, every perfgate/benchrun module is
# dropped from sys.modules, so each module is imported first, with none of its package
# loaded (third-party modules stay cached: they cannot hide a cycle of ours).
_IMPORT_EACH_ALONE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("perfgate", "benchrun")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_alone_in_a_fresh_interpreter():
    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH_ALONE, *_modules()], env=env, capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stdout.strip(), done.stderr.strip()) == (0, "", "")


def test_the_import_check_reports_a_module_that_cannot_import_alone(tmp_path):
    (tmp_path / "perfgate").mkdir()
    (tmp_path / "perfgate" / "__init__.py").write_text("")
    (tmp_path / "perfgate" / "a.py").write_text("from perfgate.b import B\nA = 1\n")
    (tmp_path / "perfgate" / "b.py").write_text("from perfgate.a import A\nB = 2\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    # cwd: `python -c` puts the working directory first on sys.path, and run from tools/ the
    # real perfgate would be imported instead of this one.
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH_ALONE, "perfgate.a"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1 and "perfgate.a: ImportError" in done.stdout
