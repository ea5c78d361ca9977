"""Makes history_v1.sqlite, a schema-version-1 history as perfgate wrote it before version 2:
6 quick-profile runs of gb_quick_5reps.json (real time scaled by 1.00 .. 1.05, commits c000..c005,
a status on each real_time row), one aggregate-only run (gb_aggregates_only.json) and one
instruction-count run, then compacted to the newest 3 runs with repetitions per profile.
Run it with the version-1 perfgate on the path (commit e159f0d):

    git worktree add /tmp/v1 e159f0d
    PYTHONPATH=/tmp/v1/tools python3 tools/tests/inputs/make_history_v1.py tools/tests/inputs/history_v1.sqlite
"""
import copy
import json
import sys
import tempfile
from pathlib import Path

from perfgate import compaction, history, load

assert history.SCHEMA_VERSION == 1, "needs the version-1 perfgate"
inputs = Path(__file__).resolve().parent
out = Path(sys.argv[1])
out.unlink(missing_ok=True)
doc = json.loads((inputs / "gb_quick_5reps.json").read_text())
with tempfile.TemporaryDirectory() as tmp:
    for i in range(6):
        d = copy.deepcopy(doc)
        d["context"]["statestore_git_commit"] = f"c{i:03d}"
        for row in d["benchmarks"]:
            if "real_time" in row:
                row["real_time"] *= 1 + i / 100
        f = Path(tmp) / f"r{i}.json"
        f.write_text(json.dumps(d))
        run = load.load_results(f)
        history.record(out, run, verdict="pass", statuses={b: "unchanged" for b in run.order},
                       recorded_at=f"2026-01-{i + 1:02d}T00:00:00+00:00")
    history.record(out, load.load_results(inputs / "gb_aggregates_only.json"), mode="manual",
                   recorded_at="2026-01-07T00:00:00+00:00")
    history.record(out, load.load_results(inputs / "instructions_baseline_trimmed.json"),
                   recorded_at="2026-01-08T00:00:00+00:00")
compaction.compact(out, keep=3)
print(f"{out}: {out.stat().st_size} bytes")
