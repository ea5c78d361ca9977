"""trends.html opened in headless Chromium: the index lists every series, the search filters
it, a series draws with its change point, the changes list shows the one change, and a
hostile benchmark name shows as text. The page's script reports what it did as data-
attributes of <body>; the state comes from the URL fragment, as a shared link would give it.

The history: 30 runs made from real state_bench output (the 5-repetition quick fixture),
each run's values moved by 2% lognormal noise, state_get_inmemory/1000 20% slower from
the 19th run on, plus one benchmark with a hostile name."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, load_doc
from perfgate import load, trends
from test_trends import GET, TARGETS, make_history

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trends-browser")
    real = load_doc()
    db = make_history(tmp / "h.sqlite", tmp, real)
    make_history(db, tmp, real, n=8, step_at=99, rename="odd</script><b>name", start=100)
    site = trends.build_site(db, load.load_targets(TARGETS))
    out = tmp / "out"
    out.mkdir()
    html = out / "trends.html"
    html.write_text(trends.html_page(site, commit_url="https://example.org/commit/{sha}"))
    get = next(i for i, s in enumerate(site.series) if s.benchmark == GET and s.metric == "real_time")
    # Four DOM dumps and the screenshot, the Chromium processes side by side.
    shot = REPO / "reports" / "trends-screenshot.png"
    shot.parent.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    fragments = ["", "#q=inmemory/1000%20real", f"#s={get}", "#view=changes"]
    runs = [["--dump-dom", html.as_uri() + f] for f in fragments]
    runs.append([f"--screenshot={shot}", html.as_uri() + f"#s={get}&q=inmemory"])
    procs = [subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / f'profile{i}'}", "--window-size=1200,900",
                               *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, args in enumerate(runs)]
    doms = []
    for p in procs:
        dom, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        doms.append(dom)
    return site, get, doms[:4], shot


def attrs_of(dom: str) -> dict[str, str]:
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body([^>]*)>", dom).group(1)))


def test_index_search_series_and_changes_in_chromium(page):
    site, get, doms, _ = page
    (index, dom_i), (search, _), (series, dom_s), (changes, dom_c) = [(attrs_of(d), d) for d in doms]
    for attrs in (index, search, series, changes):
        assert attrs["ready"] == "1"
    # The index: one row per series, the odd name as text.
    assert index["rows-visible"] == str(len(site.series)) == str(dom_i.count("<tr data-series="))
    assert "odd&lt;/script&gt;&lt;b&gt;name" in dom_i and "<b>name" not in dom_i
    # Search: words match benchmark, metric, machine and profile.
    expected = [s for s in site.series if "inmemory/1000" in s.benchmark and "real" in s.metric]
    assert search["rows-visible"] == str(len(expected)) and search["first-row"] == f"{GET} real_time"
    # One series: every run drawn, the change point marked, its commits listed with links.
    assert series["series"] == str(get) and series["chart-points"] == "30" and series["chart-changes"] == "1"
    assert 'class="cp"' in dom_s and "https://example.org/commit/0018" in dom_s
    # The changes list: the one change, with its first commit.
    assert changes["view"] == "changes" and changes["changes-visible"] == "1"
    assert changes["first-change"] == f"{GET} real_time {site.changes[0].first_commit}"
    assert "regression" in dom_c and re.search(r"\+(1[5-9]|2[0-5])\.\d% \(", dom_c)


def test_a_screenshot_of_the_trend_page_is_saved_for_review(page):
    shot = page[3]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
