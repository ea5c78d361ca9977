"""perfgate: judges Google Benchmark results of state_bench against a baseline and
the F-PERF-001 targets, and shows why.

Data flows one way, one module per step:

    load     files -> RunData (tidy pandas frames) and Targets     (load.py: results.py, baseline.py,
             one module per file format, each reading and            targets.py, verdict.py, history.py;
             validating it                                           fileio.py)
    analyse  the statistics: medians, Mann-Whitney U, deltas        (analyse.py)
    decide   RunData x RunData x Targets -> Verdict (rows)          (decide.py)
    history  Verdict + RunData -> SQLite; trends -> DataFrame       (history.py)
    render   Verdict (+ trends) -> console, summary.md,             (render.py, charts.py,
             verdict.json, report.html                               templates/)
    trends   history -> series, change points -> trends.html,       (trends.py, changepoints.py,
             changes.json                                            templates/trends.*)
    upkeep   compact / merge the history, sync it to a branch;       (compaction.py, history_sync.py,
             shard plans and the merge of shard results              merge.py)

The CLI (cli.py) only parses arguments and calls in; __main__ maps the one
project exception (errors.PerfGateError) to exit status 2.
"""

__version__ = "1.0.0"
