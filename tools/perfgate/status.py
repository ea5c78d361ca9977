"""Status names of a verdict row and the rules stated on them, in one place.

The meaning of each status (the status table) is in tools/perfgate/README.md,
"Verdicts"; decide.py assigns them, render.py shows them, benchrun reads them.
"""

from __future__ import annotations

# Relative rows (baseline vs current, one per benchmark x metric).
REGRESSED = "regressed"
NOISE = "noise"
IMPROVED = "improved"
UNCHANGED = "unchanged"
INSUFFICIENT = "insufficient"
MISSING = "missing"
NEW = "new"
SKIPPED = "skipped"
# Target rows (one per applicable F-PERF-001 target); SKIPPED too.
BREACH = "breach"
OK = "ok"
# Shown in report mode only, never in a verdict.
UNJUDGED = "unjudged"

RELATIVE = frozenset({REGRESSED, NOISE, IMPROVED, UNCHANGED, INSUFFICIENT, MISSING, NEW, SKIPPED})
TARGET = frozenset({OK, BREACH, SKIPPED})
# Relative statuses that fail the gate (when timing is enforced).
FAILING_RELATIVE = frozenset({REGRESSED, MISSING})
# Severity order: tables, console lines and summaries list the first ones first.
ORDER = [REGRESSED, BREACH, MISSING, INSUFFICIENT, NOISE, IMPROVED, SKIPPED, NEW, UNCHANGED, OK]
# Statuses a reviewer must look at: summary.md rows, charts first in report.html.
FLAGGED = frozenset({REGRESSED, BREACH, MISSING, INSUFFICIENT, NOISE, IMPROVED})

# Confirmation of a first-pass regression (A/B confirm pass).
CONFIRMED = "confirmed"
NOT_REPRODUCED = "not reproduced"

# The suspect rule: a first-pass row slower by more than this fraction of its
# threshold, yet not judged regressed, is run again in the confirmation pass (six
# rounds cannot tell a real +10% from a noisy +6% on a shared runner; the
# confirmation's extra rounds can).
SUSPECT_FRACTION = 0.5


def rank(status: str) -> int:
    """Position of `status` in ORDER (unknown statuses last)."""
    return ORDER.index(status) if status in ORDER else len(ORDER)


def is_suspect(status: str, delta_pct: float | None, threshold: float | None) -> bool:
    """True when a confirmation pass should run this row's benchmark again: judged
    regressed, or noise/unchanged but slower by more than SUSPECT_FRACTION of the threshold."""
    if status == REGRESSED:
        return True
    return (status in (NOISE, UNCHANGED) and delta_pct is not None and threshold is not None and threshold > 0
            and delta_pct > 100 * SUSPECT_FRACTION * threshold)
