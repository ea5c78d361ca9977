"""The function-shape rule of the Python tools: no function longer than 60 lines or with more
than 6 parameters, outside the tests.

    /usr/bin/python3 tools/lint/shape.py [--max-lines N] [--max-params N] [--exempt DIR ...]
                                         [--allow PATH:FUNCTION ...] ROOT ...

A function's length is its source span, `end_lineno - lineno + 1`: from its `def` line to its
last line, docstring, comments and blank lines inside it included, decorators not (they sit
above the `def`). A nested function counts towards the function around it as well as on its
own. Parameters are every name the signature binds (positional-only, ordinary, keyword-only,
`*args` and `**kwargs` one each), less a method's leading `self` or `cls`. Lambdas are not
functions here.

Every `.py` file under each ROOT is read, except those under an exempt folder (by default
`tests` and `node_modules`, anywhere below ROOT). Exit status: 0 when every function is within
the limits; 1 with one line per offender, `path:line: name: N lines (max M)` or
`path:line: name: N parameters (max M)`; 2 with one line when a file cannot be read or parsed.

`--allow PATH:FUNCTION` (PATH as the offence line prints it, FUNCTION its qualified name) lets
one named function offend: for a file whose owner has not split it yet, never for new code.
An allowance that no longer matches an offence is named on stderr, so that it gets removed.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_LINES = 60
MAX_PARAMS = 6
EXEMPT = ("tests", "node_modules")

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


class ShapeError(Exception):
    """A file the check cannot read or parse."""


@dataclass(frozen=True)
class Offence:
    path: Path
    line: int
    name: str
    what: str  # "lines" or "parameters"
    count: int
    limit: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name}: {self.count} {self.what} (max {self.limit})"


def _functions(tree: ast.AST) -> Iterator[tuple[str, FunctionNode, bool]]:
    """(qualified name, node, is a method) for every function in `tree`, nested ones included."""
    def walk(node: ast.AST, prefix: str, in_class: bool) -> Iterator[tuple[str, FunctionNode, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                yield name, child, in_class
                yield from walk(child, f"{name}.", False)
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.", True)
            else:
                yield from walk(child, prefix, in_class)
    yield from walk(tree, "", False)


def parameter_count(node: FunctionNode, is_method: bool) -> int:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    count = len(positional) + len(args.kwonlyargs) + (args.vararg is not None) + (args.kwarg is not None)
    if is_method and positional and positional[0].arg in ("self", "cls"):
        count -= 1
    return count


def line_count(node: FunctionNode) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def check_source(path: Path, source: str, max_lines: int, max_params: int) -> list[Offence]:
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ShapeError(f"{path}:{exc.lineno}: cannot parse: {exc.msg}") from None
    found: list[Offence] = []
    for name, node, is_method in _functions(tree):
        lines = line_count(node)
        if lines > max_lines:
            found.append(Offence(path, node.lineno, name, "lines", lines, max_lines))
        params = parameter_count(node, is_method)
        if params > max_params:
            found.append(Offence(path, node.lineno, name, "parameters", params, max_params))
    return found


def python_files(root: Path, exempt: Sequence[str]) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ShapeError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*.py")
                  if not any(part in exempt for part in p.relative_to(root).parts[:-1]))


def check(roots: Sequence[Path], max_lines: int, max_params: int, exempt: Sequence[str]) -> list[Offence]:
    found: list[Offence] = []
    for root in roots:
        for path in python_files(root, exempt):
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ShapeError(f"{path}: cannot read: {exc}") from None
            found += check_source(path, source, max_lines, max_params)
    return found


def _allowed(found: list[Offence], allow: Sequence[str]) -> list[Offence]:
    """The offences `allow` does not name; names one allowance that matched none on stderr."""
    keys = {f"{o.path.as_posix()}:{o.name}" for o in found}
    for stale in sorted(set(allow) - keys):
        print(f"shape: --allow {stale} matches no offence any more: remove it", file=sys.stderr)
    return [o for o in found if f"{o.path.as_posix()}:{o.name}" not in set(allow)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Functions over the length or parameter limit.")
    parser.add_argument("roots", nargs="+", type=Path, metavar="ROOT", help="a folder or .py file to check")
    parser.add_argument("--max-lines", type=int, default=MAX_LINES, help=f"default {MAX_LINES}")
    parser.add_argument("--max-params", type=int, default=MAX_PARAMS, help=f"default {MAX_PARAMS}")
    parser.add_argument("--exempt", action="append", metavar="DIR",
                        help=f"a folder name to skip (repeatable; default {', '.join(EXEMPT)})")
    parser.add_argument("--allow", action="append", default=[], metavar="PATH:FUNCTION",
                        help="a function that may offend (repeatable): one whose owner has not split it yet")
    args = parser.parse_args(argv)
    try:
        found = check(args.roots, args.max_lines, args.max_params, tuple(args.exempt or EXEMPT))
    except ShapeError as exc:
        print(f"shape: {exc}", file=sys.stderr)
        return 2
    found = _allowed(found, args.allow)
    for offence in found:
        print(offence)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
