"""Whether two builds of the benchmarks execute the same code, from their object files.

A change that does not touch what the benchmarks execute (docs, the workflow, the
gate's Python, a comment in core/) must not pay for an A/B, nor risk a false alarm.
The linked binaries cannot be compared byte for byte: state_bench embeds the path of
its source tree (it asks git for the commit at run time), so a base built in
build/base-src differs from the head in its .rodata. Their objects can: each object file of state_bench and state_instr
(read from CMake's link lines) is normalised with `objcopy --strip-unneeded
--remove-section=.comment` (which drops the file-name symbol and the compiler's
version note, keeps code, data and relocations) and hashed, and the link lines are
compared with the objects' paths taken out. The one object that holds the source path,
the generated source_dir.cc (one array, no code), is left out and named as such
(tools/tests/test_plan.py keeps it the only place the path is written). Timestamps never
enter.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchrun.errors import BenchRunError

TARGETS = ("state_bench", "state_instr")
# The translation unit that holds the source path (benches/source_dir.cc.in).
SOURCE_PATH_UNIT = "source_dir"


@dataclass
class CodeIdentity:
    """Hash per object file (relative to the build directory), the link lines without
    the objects, and the objects left out (with why)."""

    objects: dict[str, str] = field(default_factory=dict)
    link_lines: dict[str, str] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)

    def differences(self, other: CodeIdentity) -> list[str]:
        """What differs between two identities, one short item each (empty: same code)."""
        out = []
        for target in sorted(set(self.link_lines) | set(other.link_lines)):
            if self.link_lines.get(target) != other.link_lines.get(target):
                out.append(f"link line of {target}")
        for obj in sorted(set(self.objects) | set(other.objects)):
            if self.objects.get(obj) != other.objects.get(obj):
                out.append(obj)
        return out

    def describe(self) -> str:
        excluded = f"; left out: {', '.join(self.excluded)} (the source path: data only)" \
            if self.excluded else ""
        return (f"{len(self.objects)} object files of {', '.join(sorted(self.link_lines))} "
                f"(normalised with objcopy --strip-unneeded) and their link lines{excluded}")


def _archive_objects(build_dir: Path, archive: Path) -> list[Path]:
    """The object files CMake put into `archive` (libNAME.a -> CMakeFiles/NAME.dir/**.o)."""
    name = archive.name.removeprefix("lib").removesuffix(".a")
    objects = sorted((archive.parent / "CMakeFiles" / f"{name}.dir").rglob("*.o"))
    if not objects:
        raise BenchRunError(f"no object files found for {archive.relative_to(build_dir)} in {build_dir}")
    return objects


def _embeds_source_path(obj: Path) -> bool:
    return obj.name.split(".", 1)[0] == SOURCE_PATH_UNIT


def _normalised_hash(obj: Path, objcopy: str, tmp: Path) -> str:
    out = tmp / "normalised.o"
    done = subprocess.run([objcopy, "--strip-unneeded", "--remove-section=.comment", str(obj), str(out)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchRunError(f"objcopy could not read {obj}: {done.stderr.strip()}")
    return hashlib.sha256(out.read_bytes()).hexdigest()


def identity(build_dir: Path, targets: tuple[str, ...] = TARGETS) -> CodeIdentity:
    """The code identity of the benchmark programs built in `build_dir` (a CMake
    build tree); BenchRunError when a target's link line or objects are missing."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        raise BenchRunError("objcopy is not installed (binutils; tools/setup.sh installs it)")
    build_dir = build_dir.resolve()
    ident = CodeIdentity()
    objects: set[Path] = set()
    for target in targets:
        if target != targets[0] and not (build_dir / "benches" / target).is_file():
            continue  # configured, not built (a build of state_bench alone): a difference, not an error
        link = build_dir / "benches" / "CMakeFiles" / f"{target}.dir" / "link.txt"
        try:
            words = shlex.split(link.read_text())
        except OSError as exc:
            raise BenchRunError(f"cannot read the link line of {target}: {link} ({exc.strerror})") from None
        kept = []
        for word in words:
            path = (link.parent.parent.parent / word) if not word.startswith("/") else Path(word)
            if word.endswith(".o"):
                objects.add(path.resolve())
            elif word.endswith(".a") and path.resolve().is_relative_to(build_dir):
                objects.update(p.resolve() for p in _archive_objects(build_dir, path.resolve()))
                kept.append(word)
            else:
                kept.append(word.replace(str(build_dir), "<build>"))
        ident.link_lines[target] = " ".join(kept)
    with tempfile.TemporaryDirectory(prefix="codeid.") as tmp:
        for obj in sorted(objects):
            rel = str(obj.relative_to(build_dir))
            if not obj.is_file():
                raise BenchRunError(f"object file {rel} is missing from {build_dir} (build first)")
            if _embeds_source_path(obj):
                ident.excluded.append(rel)
                continue
            ident.objects[rel] = _normalised_hash(obj, objcopy, Path(tmp))
    return ident
