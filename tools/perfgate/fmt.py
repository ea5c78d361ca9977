"""Formatting of numbers, and escaping of text we did not write, for every output (console,
summary.md, report.html, charts, workflow commands).

Pure functions of plain values: no verdict types, no I/O. ``None`` and non-finite
values print as "-".
"""

from __future__ import annotations

import math
import re


def fmt_ns(value: float | None) -> str:
    """61.2 ns, 12.3 us, 4.56 ms, 1.23 s."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}" if value / scale < 100 else f"{value / scale:.0f} {unit}"
    return f"{value:.3g} ns" if abs(value) < 100 else f"{value:.0f} ns"


def fmt_value(value: float | None, metric: str) -> str:
    if metric in ("real_time", "cpu_time", "median", "mean", "p99", "p99_ns", "p50_ns", "p999_ns"):
        return fmt_ns(value)
    if value is None:
        return "-"
    return f"{value:.4g}"


def fmt_count(value: float | None) -> str:
    """Allocation counts: 0, 0.5, 1.25, 495, 4,880; amortised tiny ones as 2.3e-05."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def fmt_instr(value: float | None) -> str:
    """Instructions per operation: 89.3, 3,692, 914,506."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# --------------------------------------------------------------------------- escaping
# Text that perfgate did not write itself (benchmark names, context values, notes
# quoting them) is escaped at the boundary of each output format.

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators:
# anything a terminal, a log viewer or a Markdown renderer may take as a line break
# or an escape sequence.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# ASCII punctuation that means something inline in GitHub-flavoured Markdown (a
# backslash before any ASCII punctuation is always a literal in CommonMark).
_MARKDOWN = re.compile(r"([\\`*\[\]<>|!&~#])")
# '_' emphasises only at a word's edge (CommonMark's flanking rules): state_get_mmap
# stays as it is, _x_ is escaped.
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def one_line(text: str) -> str:
    """`text` with every control character shown as an escape (\\n, \\x1b): one line
    on a console, which cannot start a workflow command or move the cursor."""
    return _CONTROL.sub(lambda m: {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(m.group(), f"\\x{ord(m.group()):02x}")
                        if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def md_text(text: str) -> str:
    """`text` as literal inline Markdown: one line, every active character escaped."""
    return _UNDERSCORE.sub(r"\\_", _MARKDOWN.sub(r"\\\1", one_line(text)))


def md_code(text: str, table: bool = True) -> str:
    """`text` as a Markdown code span: one line, a backtick fence longer than any run of
    backticks in it; `table`: '|' escaped, since GitHub splits table cells at '|' even
    inside code spans (and reads '\\|' there as '|')."""
    text = one_line(text)
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def workflow_data(text: str) -> str:
    """The message of a GitHub Actions workflow command (::error ...::MESSAGE)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str) -> str:
    """A property value of a workflow command (::error title=VALUE::...)."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")
