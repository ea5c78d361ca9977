"""The differential profile in report.html, opened in headless Chromium: for the flagged
benchmark, the biggest contributor, the tables of changed functions and lines, and the
flame graph with the hash frame drawn in the colour of growth."""

from __future__ import annotations

import json
import re

import pytest

from conftest import INPUTS, REPO, scaled, write
from perfgate import profdiff
from perfgate.__main__ import run as perfgate
from test_profile_pipeline import SLOW, fixture_manifest
from test_report_browser import CHROMIUM, chromium

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
QUICK = INPUTS / "state_bench_quick_trimmed.json"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("profile-report")
    results = write(tmp / "cur.json", scaled(json.loads(QUICK.read_text()), {SLOW: 1.5}))
    prof = tmp / "profile.json"
    prof.write_text(json.dumps(profdiff.build(fixture_manifest())))
    out = tmp / "out"
    code = perfgate(["check", "--baseline", str(QUICK), "--results", str(results), "--report-dir", str(out),
                     "--no-history", "--quiet", "--diff-profile", str(prof)])
    assert code == 1
    return tmp, out / "report.html"


def test_the_report_with_a_profile_stays_self_contained(report):
    text = report[1].read_text()
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"""\b(src|href|xlink:href|action)\s*=""", text)


def test_chromium_shows_the_flagged_benchmarks_contributor_tables_and_flame_graph(report):
    tmp, html = report
    r = chromium(tmp, "--dump-dom", html.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    card = dom.split(f'data-benchmark="{SLOW}"', 1)[1].split('<div class="prof-card', 1)[0]
    assert 'data-profile-status="profiled"' in dom.split(f'data-benchmark="{SLOW}"', 1)[1][:60]
    top = re.search(r'<div class="prof-top" data-top="([^"]+)">(.*?)</div>', card, re.S)
    assert top.group(1) == "core/include/statestore/inmemory_state_store.h:130"
    assert "inmemory_internal::HashBytes" in top.group(2) and "b *= 0x9E3779B97F4A7C15ull;" in top.group(2)
    functions = card.split('<table class="prof-functions">', 1)[1].split("</table>", 1)[0]
    assert re.search(r"<td[^>]*>inmemory_internal::HashBytes</td><td class=\"num\">10\.0 → 12\.0</td>", functions)
    lines = card.split('<table class="prof-lines">', 1)[1].split("</table>", 1)[0]
    first = lines.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "core/include/statestore/inmemory_state_store.h:130" in first and "+2.0" in first
    svg = card.split('<svg class="flame"', 1)[1].split("</svg>", 1)[0]
    frames = re.findall(r'<g data-tip="[^"]*" data-frame="([^"]+)" data-delta="([-0-9.]+)"><rect [^>]*fill="([^"]+)"', svg)
    assert len(frames) > 10
    by_name = {name: (float(delta), fill) for name, delta, fill in frames}
    delta, fill = by_name["inmemory_internal::HashBytes"]
    red = re.match(r"rgb\(255,(\d+),(\d+)\)", fill)
    assert delta > 1.9 and red and int(red.group(1)) < 120  # the strongest growth: deep red
    assert by_name["all"][1] == "#e4e7eb"  # the root's own cost did not move
    skipped = dom.split('data-benchmark="state_get_inmemory/10000000"', 1)[1][:400]
    assert "Profile skipped: state_instr has no workload of this name" in skipped


def test_a_screenshot_of_the_profile_section_is_saved_for_review(report):
    tmp, html = report
    shot = REPO / "reports" / "profile-screenshot.png"
    shot.parent.mkdir(exist_ok=True)
    r = chromium(tmp, f"--screenshot={shot}", "--window-size=1300,1100", html.as_uri() + "#profiles")
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
