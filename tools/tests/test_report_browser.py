"""report.html opened in headless Chromium: the verdict shows, the table has every row,
and the charts drew (the page's own script counts drawn SVG charts after load).

The report is made from real state_bench output (the trimmed quick run) against the
committed targets, with one benchmark slowed by 20% and one sped up by 30%, and a
history of 12 earlier runs for the trend charts."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import INPUTS, INSTRUCTION_BASELINE, REPO, instruction_verdict, load_doc, scaled, with_context, write
from perfgate import history, load
from perfgate.__main__ import run

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
QUICK = INPUTS / "state_bench_quick_trimmed.json"
SLOW, FAST = "state_get_inmemory/100000", "state_range/results/100"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    real = json.loads(QUICK.read_text())
    out = tmp / "out"
    for i in range(12):
        f = write(tmp / f"h{i}.json", with_context(scaled(real, 1 + (i % 4) / 50),
                                                     statestore_git_commit=f"{i:02d}abcdef0123"))
        history.record(out / "history.sqlite", load.load_results(f),
                       recorded_at=f"2026-11-{i + 1:02d}T09:00:00+00:00")
    results = write(tmp / "cur.json", scaled(real, {SLOW: 1.2, FAST: 0.7}))
    code = run(["check", "--baseline", str(QUICK), "--results", str(results), "--report-dir", str(out), "--quiet"])
    assert code == 1
    verdict = json.loads((out / "verdict.json").read_text())
    return tmp, out / "report.html", verdict


def test_the_report_is_self_contained(report):
    _, html, _ = report
    text = html.read_text()
    # No URL of any kind: no CDN script or stylesheet, no font, no image, no link out.
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"""\b(src|href|xlink:href|action)\s*=""", text)
    assert not re.search(r"@import|url\(", text)
    assert "<script>" in text and "<style>" in text


def test_chromium_shows_the_verdict_every_row_and_drawn_charts(report):
    tmp, html, verdict = report
    r = chromium(tmp, "--dump-dom", html.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-verdict="fail"' in body and 'data-ready="1"' in body
    banner = re.search(r'id="verdict">\s*<span class="big">(\w+)</span>\s*<span class="txt">([^<]*)</span>', dom)
    assert banner.group(1) == "FAIL"
    assert banner.group(2).startswith(f"1 regression ({SLOW} +20.0% p=0.008)")
    assert banner.group(2) == verdict["headline"].split(": ", 1)[1].replace("&", "&amp;")
    tbody = dom.split('id="results"', 1)[1].split("</tbody>", 1)[0]
    n_benchmarks = len({b["run_name"] for b in json.loads(QUICK.read_text())["benchmarks"]})
    assert tbody.count("<tr ") == n_benchmarks == 33
    # A long table opens with the unchanged rows filtered out: regressed, improved, breaches remain.
    flagged = sum(1 for row in re.findall(r'<tr [^>]*data-status="(\w+)"', tbody) if row != "unchanged")
    assert flagged >= 2
    assert f'data-rows-visible="{flagged}"' in body
    n_charts = dom.count('<svg class="chart')
    folded = dom.split('<details class="more">', 1)[1].split("</details>", 1)[0].count('<svg class="chart')
    drawn = int(re.search(r'data-charts-drawn="(\d+)"', body).group(1))
    visible = int(re.search(r'data-charts-visible="(\d+)"', body).group(1))
    assert drawn == n_charts and visible == n_charts - folded > 16
    assert dom.count('<svg class="chart trend"') == 16  # TREND_LIMIT
    assert "13 runs" in dom  # 12 recorded + this one


def test_a_screenshot_of_the_report_is_saved_for_review(report):
    tmp, html, _ = report
    shot = REPO / "reports" / "report-screenshot.png"
    shot.parent.mkdir(exist_ok=True)
    r = chromium(tmp, f"--screenshot={shot}", "--window-size=1400,2000", html.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def _dom_body(tmp, html: Path, fragment: str) -> str:
    r = chromium(tmp, "--dump-dom", html.as_uri() + fragment)
    assert r.returncode == 0, r.stderr[-2000:]
    return re.search(r"<body([^>]*)>", r.stdout).group(1)


def test_the_url_fragment_filters_the_table_by_name(report):
    tmp, html, _ = report
    body = _dom_body(tmp, html, "#filter=put_mmap&show=all")
    assert 'data-rows-visible="2"' in body  # state_put_mmap/1000 and /100000


def test_a_fragment_that_is_not_valid_percent_encoding_still_runs_the_script(report):
    tmp, html, _ = report
    body = _dom_body(tmp, html, "#filter=%&show=all&sort=delta&dir=desc")
    assert 'data-ready="1"' in body  # set at the end of the script: it did not stop at decodeURIComponent
    assert 'data-rows-visible="0"' in body  # the filter is the literal "%", which no benchmark name holds


def test_the_url_fragment_sorts_the_table_by_a_column(report):
    tmp, html, _ = report
    assert f'data-first-row="{FAST}"' in _dom_body(tmp, html, "#sort=delta&dir=asc&show=all")  # -30% first
    assert f'data-first-row="{SLOW}"' in _dom_body(tmp, html, "#sort=delta&dir=desc&show=all")  # +20% first
    assert 'data-first-row="peer_absl_btree_map_range/results/10"' in _dom_body(tmp, html, "#sort=benchmark")


def test_the_instr_column_sorts_by_the_change_in_instructions(tmp_path):
    doc = scaled(load_doc(INSTRUCTION_BASELINE), {"state_get_mmap/1000": 1.1, "state_range/results/10": 0.9},
                 metric="instructions_per_op")
    instr = instruction_verdict(tmp_path, doc)
    out = tmp_path / "out"
    code = run(["check", "--baseline", str(QUICK), "--results", str(QUICK), "--report-dir", str(out),
                "--no-history", "--quiet", "--instructions", str(instr)])
    assert code == 1  # the committed put_mmap targets are breached in this run, instructions or not
    html = out / "report.html"
    assert 'data-first-row="state_get_mmap/1000"' in _dom_body(tmp_path, html, "#sort=instr&dir=desc&show=all")
    assert 'data-first-row="state_range/results/10"' in _dom_body(tmp_path, html, "#sort=instr&dir=asc&show=all")
