"""The trend site's data: series per machine and profile, change points with their commits,
peer ratios, targets, changes.json, the job summary, escaping and bad input."""

import json
import re
import sqlite3

import numpy as np
import pytest

from conftest import FIXTURE_TARGETS, REPO, scaled, with_context, write
from perfgate import history, load, trends
from perfgate.__main__ import run as perfgate
from perfgate.errors import PerfGateError

GET = "state_get_inmemory/1000"
HOSTILE = 'state_get_inmemory/1000</script><img src=x onerror=alert(1)>"\u2028`|'
TARGETS = REPO / "baselines" / "targets.toml"


def make_history(path, tmp_path, real_doc, n=30, step_at=18, step=1.2, machine=None, rename=None, start=0):
    rng = np.random.default_rng(start + 7)
    names = sorted({b["run_name"] for b in real_doc["benchmarks"]})
    for i in range(start, start + n):
        factors = {name: float(np.exp(rng.normal(0, 0.02))) for name in names}
        if i - start >= step_at:
            factors[GET] *= step
        doc = scaled(real_doc, factors)
        if rename:
            for row in doc["benchmarks"]:
                for key in ("name", "run_name"):
                    row[key] = re.sub(f"^{re.escape(GET)}(?=$|_)", lambda _: rename, row[key])
        ctx = {"statestore_git_commit": f"{i:04d}" + "ab" * 18}
        if machine:
            ctx["statestore_machine"] = machine
        f = write(tmp_path / f"run{i}-{machine}.json", with_context(doc, **ctx))
        history.record(path, load.load_results(f), recorded_at=f"2026-10-{1 + i // 4:02d}T{i % 4 * 6:02d}:00:00+00:00")
    return path


@pytest.fixture(scope="module")
def real_doc_m():
    from conftest import load_doc
    return load_doc()


@pytest.fixture(scope="module")
def site(tmp_path_factory, real_doc_m):
    tmp = tmp_path_factory.mktemp("trends")
    db = make_history(tmp / "h.sqlite", tmp, real_doc_m)
    return db, trends.build_site(db, load.load_targets(TARGETS))


def test_a_twenty_percent_step_is_the_only_change_and_names_its_commits(site):
    _, s = site
    assert len(s.changes) == 1
    (c,) = s.changes
    assert (c.benchmark, c.metric, c.kind) == (GET, "real_time", "regression")
    assert c.first_commit.startswith("0018") and c.last_commit_before.startswith("0017")
    assert c.ci_low < 0.2 < c.ci_high and 0.15 < c.change < 0.25
    assert not c.new  # 12 runs ago


def test_each_series_is_one_benchmark_metric_machine_and_profile_in_run_order(site):
    _, s = site
    keys = [x.key for x in s.series]
    assert len(keys) == len(set(keys))
    get = next(x for x in s.series if x.benchmark == GET and x.metric == "real_time")
    assert get.runs == list(range(30)) and get.profile == "quick"
    assert all(lo <= med <= hi for lo, med, hi in zip(get.low, get.median, get.high))
    assert {x.metric for x in s.series if x.benchmark == GET} >= {"real_time", "p99_ns", "allocs_per_op"}


def test_peer_ratios_and_targets_come_with_their_series(site):
    _, s = site
    ours, peer = "state_get_inmemory/100000", "peer_std_unordered_map_get/100000"
    ratio = next(x for x in s.series if x.benchmark == ours and x.metric == "ratio to " + peer)
    med = {x.benchmark: x.median for x in s.series if x.metric == "real_time"}
    assert ratio.median == pytest.approx([a / b for a, b in zip(med[ours], med[peer])])
    get = next(x for x in s.series if x.benchmark == GET and x.metric == "real_time")
    assert get.target == 100.0  # F-PERF-001: get < 100 ns
    alloc = next(x for x in s.series if x.benchmark == "state_get_zero_alloc" and x.metric == "allocs_per_op")
    assert alloc.target == 0


def test_two_machines_are_two_lines_never_one(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    make_history(db, tmp_path, real_doc, n=10, step_at=99, machine="box A|2 cpus|8 GiB")
    make_history(db, tmp_path, real_doc, n=10, step_at=99, machine="box B|2 cpus|8 GiB", start=10)
    s = trends.build_site(db)
    gets = [x for x in s.series if x.benchmark == GET and x.metric == "real_time"]
    assert sorted(x.machine for x in gets) == ["box A|2 cpus|8 GiB", "box B|2 cpus|8 GiB"]
    assert [len(x.runs) for x in gets] == [10, 10]


def test_a_change_in_the_newest_runs_is_new_and_printed(tmp_path, real_doc, capsys):
    db = make_history(tmp_path / "h.sqlite", tmp_path, real_doc, n=24, step_at=20, step=1.3)
    s = trends.build_site(db)
    (c,) = s.changes
    assert c.new and c.first_commit.startswith("0020")
    assert perfgate(["trends", "--history", str(db), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith(f"perfgate: new change point: {GET} real_time (AMD EPYC 7B13|2 cpus|24 GiB, quick) "
                              "0019") and out[-1].endswith("regression") and "+3" in out[-1]
    md = trends.summary_markdown(s)
    assert "**1 new**" in md and f"| `{GET}` | real_time |" in md and "+30" in md.split("New:")[1]


def test_changes_json_lists_what_the_page_lists(site, tmp_path):
    db, s = site
    out = tmp_path / "out"
    assert perfgate(["trends", "--history", str(db), "--out", str(out)]) == 0
    doc = json.loads((out / "changes.json").read_text())
    assert doc["format_version"] == 1 and len(doc["changes"]) == 1
    change = doc["changes"][0]
    assert {k: change[k] for k in ("benchmark", "metric", "profile", "kind")} == \
        {"benchmark": GET, "metric": "real_time", "profile": "quick", "kind": "regression"}
    assert change["first_commit"].startswith("0018") and change["last_commit_before"].startswith("0017")
    html = (out / "trends.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1))
    assert len(data["series"]) == len(s.series) and data["changes"][0]["benchmark"] == GET
    assert len(data["runs"]["commit"]) == 30


def test_the_page_is_one_offline_file(site, tmp_path):
    db, _ = site
    trends.command(_args(db, tmp_path), TARGETS)
    text = (tmp_path / "trends.html").read_text()
    assert not re.search(r"""\b(src|xlink:href|action)\s*=""", text)
    assert not re.search(r"@import|url\(|<link", text)
    assert re.findall(r'href="([^"]*)"', text) == ["#view=index", "#view=changes", "#"]


def _args(db, out, **kw):
    import argparse
    p = argparse.ArgumentParser()
    trends.add_arguments(p)
    argv = ["--history", str(db), "--out", str(out)]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", v]
    return p.parse_args(argv)


def test_names_from_the_history_cannot_break_out_of_the_page(tmp_path, real_doc):
    db = make_history(tmp_path / "h.sqlite", tmp_path, real_doc, n=12, step_at=6, rename=HOSTILE)
    trends.command(_args(db, tmp_path, summary=str(tmp_path / "s.md")), FIXTURE_TARGETS)
    html = (tmp_path / "trends.html").read_text()
    assert "<img" not in html and html.count("</script>") == 2 and "\u2028" not in html
    data = json.loads(re.search(r'id="data">(.*?)</script>', html, re.S).group(1))
    assert HOSTILE in {s["b"] for s in data["series"]}
    md = (tmp_path / "s.md").read_text()
    assert "<img" not in md and "`|" not in md and HOSTILE not in md


def test_link_patterns_must_be_web_addresses(site, tmp_path):
    db, _ = site
    with pytest.raises(PerfGateError, match="link pattern 'javascript:alert\\(1\\)' must start with https://"):
        trends.command(_args(db, tmp_path, commit_url="javascript:alert(1)"), TARGETS)
    trends.command(_args(db, tmp_path, compare_url="https://example.org/c/{from}...{to}"), TARGETS)
    assert '"compare_url":"https://example.org/c/{from}...{to}"' in (tmp_path / "trends.html").read_text()


def test_a_missing_or_foreign_history_is_one_line_naming_it(tmp_path, capsys):
    assert perfgate(["trends", "--history", str(tmp_path / "none.sqlite"), "--out", str(tmp_path)]) == 2
    assert f"history {tmp_path / 'none.sqlite'} does not exist" in capsys.readouterr().err
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    assert perfgate(["trends", "--history", str(other), "--out", str(tmp_path)]) == 2
    assert f"history {other} is an SQLite file of something else (tables: t), not a perfgate history" in \
        capsys.readouterr().err
    assert perfgate(["trends", "--history", str(other), "--since", "0"]) == 2
    assert "--since must be >= 1" in capsys.readouterr().err


def test_a_step_of_every_benchmark_at_one_run_is_the_machine_not_the_code(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    make_history(db, tmp_path, real_doc, n=14, step_at=99)
    faster = json.loads(json.dumps(real_doc))
    make_history(db, tmp_path, scaled(faster, 0.6), n=14, step_at=99, start=14)  # a faster runner from run 14 on
    s = trends.build_site(db)
    times = [c for c in s.changes if c.metric == "real_time"]
    assert len(times) >= 3 and {c.kind for c in times} == {"machine"}
    assert {c.first_commit[:4] for c in times} == {"0014"}


def test_instruction_runs_are_one_series_of_counts_not_a_time_series_too(tmp_path):
    from conftest import INSTRUCTION_BASELINE
    db = tmp_path / "h.sqlite"
    history.record(db, load.load_results(INSTRUCTION_BASELINE))
    s = trends.build_site(db)
    assert {x.metric for x in s.series} == {"instructions_per_op"}


def test_a_history_of_another_schema_version_is_refused(tmp_path, capsys):
    db = tmp_path / "v9.sqlite"
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 9")
    con.commit()
    con.close()
    assert perfgate(["trends", "--history", str(db), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"perfgate: error: history {db} has schema version 9; this perfgate reads " \
                                      "versions 1 and 2\n"
