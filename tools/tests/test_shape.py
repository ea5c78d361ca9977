"""tools/lint/shape.py, the function-shape check of `make lint`: no function over 60 lines or
over 6 parameters outside the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import TOOLS

SHAPE = TOOLS / "lint" / "shape.py"


def shape(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SHAPE), *map(str, args)], capture_output=True, text=True, timeout=60)


def body(lines: int, indent: int = 4) -> str:
    """A function body of `lines` lines."""
    return "".join(f"{' ' * indent}x{i} = {i}\n" for i in range(lines))


def test_a_function_over_60_lines_or_6_parameters_fails_the_check_and_is_named_with_its_file_and_line(tmp_path):
    src = tmp_path / "pkg" / "mod.py"
    src.parent.mkdir()
    src.write_text("import os\n\n\ndef long_one():\n" + body(60) + "\n\ndef wide(a, b, c, d, e, f, g):\n    return a\n")
    done = shape(tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{src}:4: long_one: 61 lines (max 60)",
                                        f"{src}:67: wide: 7 parameters (max 6)"]


def test_functions_at_the_limits_pass(tmp_path):
    # 60 lines from `def` to the last line (decorators above it are not counted); six
    # parameters, *args and **kwargs among them; a method's self or cls is not a parameter.
    (tmp_path / "ok.py").write_text(
        "import functools\n\n\n@functools.lru_cache\n@staticmethod\ndef sixty():\n" + body(59)
        + "\n\ndef six(a, b, c, d, *args, **kwargs):\n    return a\n"
        + "\n\nclass C:\n    def method(self, a, b, c, d, e, f):\n        return a\n\n"
        + "    @classmethod\n    def make(cls, a, b, c, d, e, f):\n        return a\n")
    done = shape(tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_star_args_and_keyword_only_parameters_count_and_self_outside_a_class_does(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f(a, b, c, d, e, *args, **kwargs):\n    pass\n\n\n"
                   "def g(a, /, b, *, c, d, e, f, k):\n    pass\n\n\n"
                   "def h(self, a, b, c, d, e, f):\n    pass\n")
    done = shape(src)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{src}:1: f: 7 parameters (max 6)", f"{src}:5: g: 7 parameters (max 6)",
                                        f"{src}:9: h: 7 parameters (max 6)"]


def test_a_nested_function_is_named_by_its_path_and_counts_towards_its_outer_function_too(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("class Outer:\n    def method(self):\n        def inner():\n" + body(61, indent=12)
                   + "        return inner\n")
    done = shape(src)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{src}:2: Outer.method: 64 lines (max 60)",
                                        f"{src}:3: Outer.method.inner: 62 lines (max 60)"]


def test_the_tests_folder_is_exempt(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_wide(a, b, c, d, e, f, g):\n    pass\n")
    done = shape(tmp_path)
    assert (done.returncode, done.stdout) == (0, "")


def test_an_allowed_function_passes_and_a_stale_allowance_is_named(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def wide(a, b, c, d, e, f, g):\n    pass\n")
    done = shape(src, "--allow", f"{src}:wide", "--allow", f"{src}:gone")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"shape: --allow {src}:gone matches no offence any more: remove it\n"


def test_a_file_that_does_not_parse_is_exit_2_with_one_line_naming_it(tmp_path):
    src = tmp_path / "broken.py"
    src.write_text("def f(:\n    pass\n")
    done = shape(tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"shape: {src}:1: cannot parse: ") and done.stderr.count("\n") == 1


def test_a_missing_root_is_exit_2_with_one_line(tmp_path):
    done = shape(tmp_path / "nowhere")
    assert (done.returncode, done.stderr) == (2, f"shape: {tmp_path / 'nowhere'}: no such file or folder\n")
