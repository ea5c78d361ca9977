"""Reading and writing perfgate's files: the one place that touches the disk for them.

Contract:

* ``read_text`` / ``read_json`` return the file's content or raise PerfGateError with
  one line naming the file (``<what> file <path> ...``) and the problem: missing, a
  directory, unreadable, empty, not UTF-8, not JSON, a duplicate key, nested too
  deeply, a number too long to read. JSON is parsed strictly enough that a document
  means one thing: a key given twice is an error, not "the last one wins".
* ``write_atomic`` writes a temporary file beside the target and renames it over the
  target, so a reader never sees half a file; on any failure (disk full, permission,
  a file where a directory should be) the temporary file is removed, the target is
  left as it was, and PerfGateError says which file could not be written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from perfgate.errors import PerfGateError


def read_text(path: Path, what: str, missing_hint: str = "") -> str:
    """The file's text (UTF-8), or PerfGateError naming `what` and `path`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PerfGateError(f"{what} file {path} does not exist{missing_hint}") from None
    except IsADirectoryError:
        raise PerfGateError(f"{what} file {path} is a directory") from None
    except OSError as exc:
        raise PerfGateError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise PerfGateError(f"{what} file {path} is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PerfGateError(f"{what} file {path} is not UTF-8 text") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_json(text: str, path: Path, what: str, benchmark_output: bool = True) -> Any:
    """Parses `text` strictly (see the module docstring); errors name `what` and `path`."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        # Google Benchmark JSON always ends with the closing brace of the document;
        # without it, the writer stopped early.
        truncated = benchmark_output and not text.rstrip().endswith("}")
        hint = "; truncated: did the benchmark crash mid-write?" if truncated else ""
        raise PerfGateError(f"{what} file {path} is not valid JSON "
                            f"({exc.msg}, line {exc.lineno} column {exc.colno}{hint})") from None
    except _DuplicateKey as exc:
        raise PerfGateError(f"{what} file {path} has the key {exc.key!r} twice in one object") from None
    except RecursionError:
        raise PerfGateError(f"{what} file {path} nests JSON too deeply to read") from None
    except ValueError as exc:  # e.g. an integer literal over Python's 4,300-digit limit
        raise PerfGateError(f"{what} file {path} is not usable JSON ({exc})") from None


def read_json(path: Path, what: str, missing_hint: str = "", benchmark_output: bool = True) -> Any:
    """The file's JSON document, parsed strictly; PerfGateError names `what` and `path`.
    `benchmark_output`: a JSON error in a file cut short suggests the benchmark crashed."""
    return parse_json(read_text(path, what, missing_hint), path, what, benchmark_output)


def write_atomic(path: Path, text: str) -> None:
    """Writes `text` to `path` atomically (temp file + rename); see the module docstring."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists()), path.parent)
        raise PerfGateError(f"cannot write {path}: {blocker} is a file, not a directory") from None
    except OSError as exc:
        raise PerfGateError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise PerfGateError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass  # renamed into place (the usual case) or never created


def as_number(value: Any) -> float | None:
    """`value` as a float when it is a JSON/TOML number a float can hold (NaN and
    infinities included); None for anything else: booleans, strings, containers, and
    integers too large for a float (10**400), which float() would raise on."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None
